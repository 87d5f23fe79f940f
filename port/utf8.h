/*
 * utf8: whether bytes are well-formed UTF-8.
 *
 * Pure C: no Python, no allocation, any thread.
 */
#ifndef PY_PORT_UTF8_H
#define PY_PORT_UTF8_H

#include <stddef.h>

/* 1 if text[0..n) is well-formed UTF-8 as Python's strict decoder (and
 * Erlang's unicode module) judge it: no overlong form, no surrogate
 * (U+D800..U+DFFF), nothing above U+10FFFF, no sequence cut short; else
 * 0. NUL bytes are well-formed. */
int utf8_valid(const char *text, size_t n);

/* What text[0..n) is, judged as utf8_valid() does. */
enum utf8_text {
    UTF8_INVALID,  /* not well-formed UTF-8 */
    UTF8_ASCII,    /* every byte below 0x80 (none at all included) */
    UTF8_NON_ASCII /* well-formed, with a character above U+007F */
};
enum utf8_text utf8_classify(const char *text, size_t n);

#endif
