/*
 * utf8: whether bytes are well-formed UTF-8, and whether ASCII.
 *
 * Pure C: no Python, no allocation, any thread.
 */
#ifndef PY_PORT_UTF8_H
#define PY_PORT_UTF8_H

#include <stddef.h>

/* What text[0..n) is. Well-formed UTF-8 as Python's strict decoder (and
 * Erlang's unicode module) judge it: no overlong form, no surrogate
 * (U+D800..U+DFFF), nothing above U+10FFFF, no sequence cut short; NUL
 * bytes are well-formed. */
enum utf8_text {
    UTF8_INVALID,  /* not well-formed UTF-8 */
    UTF8_ASCII,    /* every byte below 0x80 (none at all included) */
    UTF8_NON_ASCII /* well-formed, with a character above U+007F */
};
enum utf8_text utf8_classify(const char *text, size_t n);

#endif
