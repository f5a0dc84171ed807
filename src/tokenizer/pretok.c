/* pretok.c - the pre-tokenizer regexes of byte-level BPE as hand-written matchers. Each returns the length
 * of the word at pos the way a backtracking regex engine (leftmost alternative first, greedy) would:
 *   GPT-2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   Llama 3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
 *            \s*[\r\n]+|\s+(?!\S)|\s+
 *   Qwen2:   Llama 3's with \p{N} instead of \p{N}{1,3}.
 *   llama.cpp's "default": pieces that are runs of [\p{P}$+<=>^~|] or of anything else, GPT-2's regex in
 *            each piece, then \p{N}+ and [0-9]{3} (leftmost first) apart in each word; every stage keeps
 *            the text between its matches as words too (llama.cpp's unicode_regex_split).
 *   Falcon:  the default's with ` among the punctuation and no \p{N}+ stage.
 * Bytes that are not valid UTF-8 are one "other" character each. */
#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode.h"

typedef enum cp_class { CP_END, CP_LETTER, CP_NUMBER, CP_SPACE, CP_OTHER } cp_class;

typedef struct cursor {
    const unsigned char *s;
    size_t len;
} cursor;

/* The class of the character at pos (CP_END past the end) and its byte length. */
static cp_class class_at(const cursor *c, size_t pos, size_t *cl) {
    *cl = 0;
    if (pos >= c->len)
        return CP_END;
    uint32_t cp = gc_utf8_decode(c->s + pos, c->len - pos, cl);
    return gc_cp_is_letter(cp) ? CP_LETTER : gc_cp_is_number(cp) ? CP_NUMBER : gc_cp_is_space(cp) ? CP_SPACE
                                                                                                  : CP_OTHER;
}

/* End of the run of class k starting at pos, taking at most max characters. */
static size_t run_end(const cursor *c, size_t pos, cp_class k, size_t max) {
    size_t cl, n = 0;
    while (n < max && class_at(c, pos, &cl) == k) {
        pos += cl;
        n++;
    }
    return pos;
}

static size_t contraction(const cursor *c, size_t pos, bool ignore_case) {
    if (c->s[pos] != '\'' || pos + 1 >= c->len)
        return 0;
    unsigned char a = c->s[pos + 1], b = pos + 2 < c->len ? c->s[pos + 2] : 0;
    if (ignore_case) {
        a = (unsigned char)(a >= 'A' && a <= 'Z' ? a + 32 : a);
        b = (unsigned char)(b >= 'A' && b <= 'Z' ? b + 32 : b);
    }
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
        return 3;
    return 0;
}

/* \s+(?!\S) then \s+ (and, for Llama 3, \s*[\r\n]+ before them). */
static size_t whitespace(const cursor *c, size_t pos, bool newline_alt) {
    size_t cl, end = pos, last_start = pos, last_nl = (size_t)-1;
    while (class_at(c, end, &cl) == CP_SPACE) {
        if (c->s[end] == '\r' || c->s[end] == '\n')
            last_nl = end;
        last_start = end;
        end += cl;
    }
    if (newline_alt && last_nl != (size_t)-1)
        return last_nl + 1 - pos;
    if (end == c->len || last_start == pos)
        return end - pos;
    return last_start - pos; /* leave the last space to the word that follows */
}

static size_t match_gpt2(const cursor *c, size_t pos) {
    size_t n = contraction(c, pos, false), cl;
    if (n)
        return n;
    size_t p = c->s[pos] == ' ' ? pos + 1 : pos;
    cp_class k = class_at(c, p, &cl);
    if (k == CP_LETTER || k == CP_NUMBER || k == CP_OTHER)
        return run_end(c, p, k, SIZE_MAX) - pos;
    return whitespace(c, pos, false);
}

static bool is_cr_lf(const cursor *c, size_t pos) {
    return pos < c->len && (c->s[pos] == '\r' || c->s[pos] == '\n');
}

static size_t match_llama3(const cursor *c, size_t pos, size_t max_digits) {
    size_t n = contraction(c, pos, true), cl, cl1;
    if (n)
        return n;
    cp_class k = class_at(c, pos, &cl);
    if (k == CP_LETTER)
        return run_end(c, pos, CP_LETTER, SIZE_MAX) - pos;
    if (k != CP_NUMBER && !is_cr_lf(c, pos) && class_at(c, pos + cl, &cl1) == CP_LETTER)
        return run_end(c, pos + cl, CP_LETTER, SIZE_MAX) - pos;
    if (k == CP_NUMBER)
        return run_end(c, pos, CP_NUMBER, max_digits) - pos;
    size_t p = c->s[pos] == ' ' && class_at(c, pos + 1, &cl1) == CP_OTHER ? pos + 1 : pos;
    if (class_at(c, p, &cl1) == CP_OTHER) {
        size_t end = run_end(c, p, CP_OTHER, SIZE_MAX);
        while (is_cr_lf(c, end))
            end++;
        return end - pos;
    }
    return whitespace(c, pos, true);
}

static bool is_ascii_digit(unsigned char b) {
    return b >= '0' && b <= '9';
}

/* Within a piece: GPT-2's word, with numbers_apart split by \p{N}+, then by [0-9]{3}. The only GPT-2 words
 * holding digits are " ?\p{N}+", so \p{N}+ sets the space apart, and from any start inside the run GPT-2's
 * word is the rest of the run: each call sees the word from where the last one stopped, as the regex
 * iterator does. */
static size_t match_default(const cursor *c, size_t pos, bool numbers_apart) {
    size_t n = match_gpt2(c, pos), cl;
    if (numbers_apart && c->s[pos] == ' ' && n > 1 && class_at(c, pos + 1, &cl) == CP_NUMBER)
        return 1;
    for (size_t i = pos; i < pos + n; i += cl) {
        if (i + 3 <= pos + n && is_ascii_digit(c->s[i]) && is_ascii_digit(c->s[i + 1]) &&
            is_ascii_digit(c->s[i + 2]))
            return i == pos ? 3 : i - pos;
        class_at(c, i, &cl);
    }
    return n;
}

/* Length of the word starting at text[pos] (pos < len) of a piece; always >= 1. */
static size_t word_len(tok_pretok kind, const unsigned char *text, size_t len, size_t pos) {
    cursor c = {text, len};
    size_t n = kind == TOK_PRETOK_GPT2      ? match_gpt2(&c, pos)
               : kind == TOK_PRETOK_DEFAULT ? match_default(&c, pos, true)
               : kind == TOK_PRETOK_FALCON  ? match_default(&c, pos, false)
                                            : match_llama3(&c, pos, kind == TOK_PRETOK_QWEN2 ? 1 : 3);
    return n ? n : 1;
}

/* [\p{P}\$\+<=>\^~\|] (Falcon's adds `) as llama.cpp matches it: every printable ASCII character but letters,
 * digits and (but for Falcon) '`', and beyond ASCII the general category P. */
static bool default_punct(uint32_t cp, bool backtick) {
    if (cp < 0x80)
        return cp > 0x20 && cp < 0x7F && (backtick || cp != '`') && !gc_cp_is_letter(cp) && !gc_cp_is_number(cp);
    return gc_cp_is_punct(cp);
}

/* Digits(individual_digits=true) before the regex: every numeric character (Rust's char::is_numeric, i.e.
 * \p{N}, so "\xC2\xBD" too) is a piece of its own. */
static size_t digit_piece_len(const unsigned char *s, size_t len) {
    size_t n = 0, cl;
    if (gc_cp_is_number(gc_utf8_decode(s, len, &cl)))
        return cl;
    while (n < len && !gc_cp_is_number(gc_utf8_decode(s + n, len - n, &cl)))
        n += cl;
    return n;
}

/* The first piece of text (len > 0), which no word crosses: a digit or a run of non-digits with
 * split_digits, a run of punctuation or of anything else for the default and Falcon cascades, else all. */
static size_t piece_len(tok_pretok kind, bool split_digits, const unsigned char *text, size_t len) {
    if (split_digits)
        return digit_piece_len(text, len);
    if (kind != TOK_PRETOK_DEFAULT && kind != TOK_PRETOK_FALCON)
        return len;
    size_t n = 0, cl;
    const bool tick = kind == TOK_PRETOK_FALCON, punct = default_punct(gc_utf8_decode(text, len, &cl), tick);
    while (n < len && default_punct(gc_utf8_decode(text + n, len - n, &cl), tick) == punct)
        n += cl;
    return n;
}

bool tok_pretok_words(tok_pretok kind, bool split_digits, const unsigned char *text, size_t len,
                      bool (*word)(const unsigned char *w, size_t n, void *user), void *user) {
    for (size_t piece = 0; piece < len;) {
        const size_t n_piece = piece_len(kind, split_digits, text + piece, len - piece);
        for (size_t pos = 0; pos < n_piece;) {
            const size_t n = word_len(kind, text + piece, n_piece, pos);
            if (!word(text + piece + pos, n, user))
                return false;
            pos += n;
        }
        piece += n_piece;
    }
    return true;
}
