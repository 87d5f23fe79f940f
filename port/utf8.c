/*
 * utf8: whether bytes are well-formed UTF-8, and whether ASCII (see utf8.h).
 *
 * DESIGN: a binary becomes a str when it is UTF-8, else bytes
 * (convert_decode.c). Asking Python's decoder to find out costs, for a
 * binary that is not text, a str of the binary's length allocated in vain
 * and a UnicodeDecodeError that holds a copy of the whole input: three
 * copies of a 100 MB payload instead of one. This check allocates
 * nothing and stops at the first byte that is not UTF-8. The byte ranges
 * are those of the Unicode Standard's table 3-7 (well-formed UTF-8 byte
 * sequences); runs of ASCII are skipped eight bytes at a time.
 */
#include "utf8.h"

#include <stdint.h>
#include <string.h>

/* Whether the 8 bytes at p are all ASCII. */
static int ascii8(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof(w));
    return (w & 0x8080808080808080ULL) == 0;
}

/* The length of the sequence led by byte c, and the range of its second
 * byte (narrower than 80..BF after E0, ED, F0 and F4: no overlong form,
 * no surrogate, nothing above U+10FFFF); 0 for a byte that leads none. */
static size_t sequence(unsigned c, unsigned *lo, unsigned *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        return 2;
    if (c >= 0xE0 && c <= 0xEF) {
        *lo = c == 0xE0 ? 0xA0 : 0x80;
        *hi = c == 0xED ? 0x9F : 0xBF;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        *lo = c == 0xF0 ? 0x90 : 0x80;
        *hi = c == 0xF4 ? 0x8F : 0xBF;
        return 4;
    }
    return 0;
}

enum utf8_text utf8_classify(const char *text, size_t n)
{
    const unsigned char *p = (const unsigned char *)text, *end = p + n;
    enum utf8_text kind = UTF8_ASCII;
    while (p < end) {
        if (end - p >= 8 && ascii8(p)) {
            p += 8;
            continue;
        }
        if (*p < 0x80) {
            p++;
            continue;
        }
        unsigned lo, hi;
        size_t len = sequence(*p, &lo, &hi);
        if (len == 0 || (size_t)(end - p) < len || p[1] < lo || p[1] > hi)
            return UTF8_INVALID;
        for (size_t k = 2; k < len; k++)
            if ((p[k] & 0xC0) != 0x80)
                return UTF8_INVALID;
        p += len;
        kind = UTF8_NON_ASCII;
    }
    return kind;
}
