/* unicode.h - the little Unicode a tokenizer needs: UTF-8 decoding that never fails (a bad byte is one
 * code point of its own), the classes \p{L}, \p{N} and \s of the pre-tokenizer regexes, and GPT-2's
 * byte <-> printable-code-point map. */
#ifndef GC_TOKENIZER_UNICODE_H
#define GC_TOKENIZER_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gc_cp_range {
    uint32_t lo, hi; /* inclusive */
} gc_cp_range;

extern const gc_cp_range gc_unicode_letters[];
extern const size_t gc_unicode_letters_count;
extern const gc_cp_range gc_unicode_numbers[];
extern const size_t gc_unicode_numbers_count;
extern const gc_cp_range gc_unicode_punct[];
extern const size_t gc_unicode_punct_count;

/* Decodes the code point starting at s[0] (n > 0 bytes available) and stores its byte length in *len.
 * Invalid, overlong or truncated sequences decode as one byte with code point 0xFFFD + 0x110000 (outside
 * Unicode, so it belongs to no class but "other"). */
uint32_t gc_utf8_decode(const unsigned char *s, size_t n, size_t *len);

/* Writes cp as UTF-8 into out (4 bytes room); returns the byte count. */
size_t gc_utf8_encode(uint32_t cp, char *out);

/* llama.cpp's unicode_len_utf8: the length a sequence starting with byte b claims (1 for stray bytes). */
size_t gc_utf8_claimed_len(unsigned char b);

bool gc_cp_is_letter(uint32_t cp);
bool gc_cp_is_number(uint32_t cp);
bool gc_cp_is_punct(uint32_t cp); /* general category P*, \p{P} */
bool gc_cp_is_space(uint32_t cp); /* Unicode White_Space, what \s matches in the tokenizer regexes */

/* GPT-2 bytes_to_unicode: the code point that stands for byte b in byte-level BPE vocabularies. */
uint32_t gc_byte_to_cp(unsigned char b);

/* The inverse: the byte that code point cp stands for, or -1 if cp is not in the map. */
int gc_cp_to_byte(uint32_t cp);

#endif
