/* load_sp_model.c - SentencePiece tokenizer.model: a protobuf ModelProto read with a small wire-format
 * reader. Fields used: 1 pieces { 1 piece, 2 score (float), 3 type }, 2 trainer_spec { 3 model_type,
 * 40 unk_id, 41 bos_id, 42 eos_id }, 3 normalizer_spec { 3 add_dummy_prefix }. Everything else is skipped.
 * Only BPE models (model_type 2) are supported; unigram models need a different encoder. */
#include <string.h>

#include "tokenizer/tok_internal.h"

typedef struct pb_reader {
    const unsigned char *data; /* the whole file, for offsets in messages */
    size_t pos, end;           /* the message being read is data[pos..end) */
} pb_reader;

typedef struct pb_field {
    uint32_t number, wire;
    uint64_t value;            /* varint / fixed32 / fixed64 */
    size_t off, len;           /* length-delimited: bytes data[off..off+len) */
} pb_field;

static gc_status pb_varint(pb_reader *r, uint64_t *v, gc_error *err) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->pos >= r->end)
            return gc_fail(err, GC_ERR_FORMAT, "protobuf varint runs past the end at byte %zu", r->pos);
        unsigned char b = r->data[r->pos++];
        *v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80))
            return GC_OK;
    }
    return gc_fail(err, GC_ERR_FORMAT, "protobuf varint longer than 10 bytes at byte %zu", r->pos);
}

static uint64_t read_le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Reads the next field of the message; *f->number == 0 at its end. */
static gc_status pb_next(pb_reader *r, pb_field *f, gc_error *err) {
    memset(f, 0, sizeof *f);
    if (r->pos >= r->end)
        return GC_OK;
    size_t at = r->pos;
    uint64_t key;
    gc_status st = pb_varint(r, &key, err);
    if (st != GC_OK)
        return st;
    f->number = (uint32_t)(key >> 3);
    f->wire = (uint32_t)(key & 7);
    size_t fixed = f->wire == 1 ? 8 : f->wire == 5 ? 4 : 0;
    if (f->number == 0 || key >> 35)
        return gc_fail(err, GC_ERR_FORMAT, "protobuf field number 0 or too large at byte %zu", at);
    if (f->wire == 0)
        return pb_varint(r, &f->value, err);
    if (fixed) {
        if (r->end - r->pos < fixed)
            return gc_fail(err, GC_ERR_FORMAT, "protobuf field %u at byte %zu runs past the end", f->number, at);
        f->value = read_le(r->data + r->pos, (int)fixed);
        r->pos += fixed;
        return GC_OK;
    }
    if (f->wire != 2)
        return gc_fail(err, GC_ERR_FORMAT, "protobuf wire type %u at byte %zu is not supported", f->wire, at);
    if ((st = pb_varint(r, &f->value, err)) != GC_OK)
        return st;
    if (f->value > r->end - r->pos)
        return gc_fail(err, GC_ERR_FORMAT,
                       "protobuf field %u at byte %zu has length %llu, past the end "
                       "(%zu bytes left)",
                       f->number, at, (unsigned long long)f->value, r->end - r->pos);
    f->off = r->pos;
    f->len = (size_t)f->value;
    r->pos += f->len;
    return GC_OK;
}

typedef struct sp_piece {
    const char *text;
    size_t len;
    float score;
    int32_t type;
} sp_piece;

static gc_status parse_piece(const unsigned char *data, const pb_field *outer, sp_piece *p, gc_error *err) {
    pb_reader r = {data, outer->off, outer->off + outer->len};
    pb_field f;
    gc_status st;
    *p = (sp_piece){"", 0, 0.0f, TOK_NORMAL};
    while ((st = pb_next(&r, &f, err)) == GC_OK && f.number) {
        if (f.number == 1 && f.wire == 2) {
            p->text = (const char *)data + f.off;
            p->len = f.len;
        } else if (f.number == 2 && f.wire == 5) {
            uint32_t bits = (uint32_t)f.value;
            memcpy(&p->score, &bits, 4);
        } else if (f.number == 3 && f.wire == 0) {
            p->type = f.value >= 1 && f.value <= 6 ? (int32_t)f.value : TOK_NORMAL;
        }
    }
    return st;
}

typedef struct sp_spec {
    int64_t model_type, unk_id, bos_id, eos_id;
    bool add_dummy_prefix;
    int n_pieces;
    bool has_trainer_spec;
} sp_spec;

/* Reads fields of a sub-message into spec (trainer_spec when outer is 2, normalizer_spec when 3). */
static gc_status parse_spec(const unsigned char *data, const pb_field *outer, sp_spec *spec, gc_error *err) {
    pb_reader r = {data, outer->off, outer->off + outer->len};
    pb_field f;
    gc_status st;
    while ((st = pb_next(&r, &f, err)) == GC_OK && f.number) {
        if (f.wire != 0)
            continue;
        int64_t v = (int64_t)f.value; /* int32 fields are sign-extended to 64 bits on the wire */
        if (outer->number == 2 && f.number == 3)
            spec->model_type = v;
        else if (outer->number == 2 && f.number == 40)
            spec->unk_id = v;
        else if (outer->number == 2 && f.number == 41)
            spec->bos_id = v;
        else if (outer->number == 2 && f.number == 42)
            spec->eos_id = v;
        else if (outer->number == 3 && f.number == 3)
            spec->add_dummy_prefix = v != 0;
    }
    return st;
}

/* First pass: counts pieces, reads the specs, and checks every piece parses. */
static gc_status scan_model(const unsigned char *data, size_t len, sp_spec *spec, gc_error *err) {
    pb_reader r = {data, 0, len};
    pb_field f;
    sp_piece p;
    gc_status st;
    *spec = (sp_spec){.model_type = 1, .unk_id = 0, .bos_id = 1, .eos_id = 2, .add_dummy_prefix = true};
    while ((st = pb_next(&r, &f, err)) == GC_OK && f.number) {
        if (f.wire != 2)
            continue;
        if (f.number == 1) {
            st = parse_piece(data, &f, &p, err);
            spec->n_pieces++;
        } else if (f.number == 2 || f.number == 3) {
            spec->has_trainer_spec |= f.number == 2;
            st = parse_spec(data, &f, spec, err);
        }
        if (st != GC_OK)
            return st;
    }
    if (st != GC_OK)
        return st;
    if (spec->n_pieces == 0)
        return gc_fail(err, GC_ERR_FORMAT, "SentencePiece model has no pieces");
    if (!spec->has_trainer_spec)
        return gc_fail(err, GC_ERR_FORMAT, "SentencePiece model has no trainer_spec (truncated?)");
    if (spec->model_type != 2)
        return gc_fail(err, GC_ERR_UNSUPPORTED,
                       "SentencePiece model_type %lld is not BPE (2); only BPE "
                       "models are supported",
                       (long long)spec->model_type);
    return GC_OK;
}

static int32_t spec_id(int64_t id, int n) { return id >= 0 && id < n ? (int32_t)id : -1; }

static gc_status fill_pieces(gc_tokenizer *t, const unsigned char *data, size_t len, gc_error *err) {
    pb_reader r = {data, 0, len};
    pb_field f;
    sp_piece p;
    int32_t id = 0;
    gc_status st;
    while ((st = pb_next(&r, &f, err)) == GC_OK && f.number) {
        if (f.number != 1 || f.wire != 2)
            continue;
        if ((st = parse_piece(data, &f, &p, err)) != GC_OK ||
            (st = tok_set_token_text(t, id++, p.text, p.len, p.score, p.type, err)) != GC_OK)
            return st;
    }
    return st;
}

gc_status tok_load_sp_model(const unsigned char *data, size_t len, gc_tokenizer **out, gc_error *err) {
    sp_spec spec;
    *out = NULL;
    gc_status st = scan_model(data, len, &spec, err);
    if (st != GC_OK)
        return st;
    gc_tokenizer *t;
    if ((st = tok_new(GC_TOKENIZER_SPM, spec.n_pieces, &t, err)) == GC_OK &&
        (st = fill_pieces(t, data, len, err)) == GC_OK) {
        t->unk_id = spec_id(spec.unk_id, t->n_vocab);
        t->bos_id = spec_id(spec.bos_id, t->n_vocab);
        t->eos_id = spec_id(spec.eos_id, t->n_vocab);
        t->add_bos = true;
        t->add_space_prefix = spec.add_dummy_prefix;
        st = tok_finish(t, err);
    }
    if (st != GC_OK) {
        gc_tokenizer_free(t);
        return st;
    }
    *out = t;
    return GC_OK;
}
