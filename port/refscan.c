/*
 * refscan: the first reference of a request's body (see refscan.h).
 *
 * DESIGN: descends tuples, lists and maps to ENVELOPE_MAX_DEPTH levels;
 * every other term is stepped over by envelope_skip_term(), which checks
 * its bounds. A reference is a 3-tuple whose first element is the atom
 * '$py_ref' and whose second is an integer.
 */
#include "refscan.h"

#include "envelope.h"

#include <ei.h>
#include <string.h>

#define REF_TAG "$py_ref" /* objref.h's OBJREF_TAG */

/* 1: found; 0: not in this term (index moved past it); -1: malformed. */
static int scan(const char *f, size_t len, int *index, int depth, unsigned long long *nonce);

/* Whether the three terms at f[i] are '$py_ref', an integer (its nonce,
 * into *nonce) and anything, all within len. Each is bounded by
 * envelope_skip_term() before ei reads it: ei trusts the lengths a term
 * gives. */
static int is_ref(const char *f, size_t len, int i, unsigned long long *nonce)
{
    char tag[MAXATOMLEN_UTF8];
    int end = i;
    for (int k = 0; k < 3; k++)
        if (envelope_skip_term(f, len, &end) != 0)
            return 0;
    return ei_decode_atom(f, &i, tag) == 0 && strcmp(tag, REF_TAG) == 0 &&
           ei_decode_ulonglong(f, &i, nonce) == 0;
}

/* A tuple of arity n at *index (its header read): the reference, if it
 * is one, else its elements scanned. */
static int scan_tuple(const char *f, size_t len, int *index, int n, int depth,
                      unsigned long long *nonce)
{
    if (n == 3 && is_ref(f, len, *index, nonce))
        return 1;
    for (int k = 0; k < n; k++) {
        int rc = scan(f, len, index, depth + 1, nonce);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int scan(const char *f, size_t len, int *index, int depth, unsigned long long *nonce)
{
    int type, size, n, at = *index;
    if (depth > ENVELOPE_MAX_DEPTH || (size_t)at >= len ||
        (size_t)at + envelope_head_size((unsigned char)f[at]) > len || /* 0: unknown tag */
        envelope_head_size((unsigned char)f[at]) == 0 || ei_get_type(f, &at, &type, &size) != 0)
        return -1;
    if (type == ERL_SMALL_TUPLE_EXT || type == ERL_LARGE_TUPLE_EXT) {
        if (ei_decode_tuple_header(f, &at, &n) != 0 || (size_t)at > len)
            return -1;
        *index = at;
        return scan_tuple(f, len, index, n, depth, nonce);
    }
    if (type == ERL_LIST_EXT || type == ERL_MAP_EXT) {
        int list = type == ERL_LIST_EXT;
        if ((list ? ei_decode_list_header(f, &at, &n) : ei_decode_map_header(f, &at, &n)) != 0 ||
            (size_t)at > len || n < 0)
            return -1;
        *index = at;
        long terms = list ? (long)n + 1 : 2L * n; /* a list's tail */
        for (long k = 0; k < terms; k++) {
            int rc = scan(f, len, index, depth + 1, nonce);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    return envelope_skip_term(f, len, index) == 0 ? 0 : -1;
}

int refscan_first(const char *frame, size_t len, int index, unsigned long long *nonce)
{
    while ((size_t)index < len) {
        int rc = scan(frame, len, &index, 0, nonce);
        if (rc != 0)
            return rc > 0;
    }
    return 0;
}
