/*
 * convert_decode: Erlang external term format -> Python objects.
 *
 * DESIGN: the Erlang-to-Python table of docs/types.md. Called on context
 * threads with the GIL held, the only lock; no state of its own but a
 * per-thread scratch buffer for atom names. The atom cache and cap belong
 * to erlmod.c.
 *
 * Bounds: decoding walks the frame buffer in place and never reads at or
 * past `end` (the length the caller gives), so a term cut short fails as
 * malformed whatever follows it in memory. Leaves go through ei_get_type
 * and ei_decode_*, containers are walked by hand (ei_skip_term recurses
 * without a bound and ignores errors inside lists, so it only ever sees a
 * pid or a ref whose extent is already checked). ei itself checks no
 * bounds, so every ei call is preceded by need(), which checks that the
 * bytes a tag or a declared length promises lie before `end`: peek() for
 * the tag and its fixed header, sized() for the declared payload. FLOAT_EXT
 * is the one leaf ei could read past its extent (sscanf stops only at a
 * byte that cannot continue a number): it gets a NUL-terminated copy.
 *
 * Recursion: decode() recurses once per list, tuple or map and refuses the
 * level past CONVERT_MAX_DEPTH, so the C stack holds at most that many
 * small frames (an atom name goes to a _Thread_local buffer, not a local
 * array). List tails are followed in a loop.
 *
 * Map keys: distinct Erlang keys can meet in Python (#{1 => a, 1.0 => b}):
 * TypeError rather than a dropped entry.
 */
#include "convert.h"

#include <endian.h>
#include <stdint.h>
#include <string.h>

#include "bigmem.h"
#include "convert_internal.h"
#include "envelope.h"
#include "erlmod.h"
#include "objref.h"
#include "pycompat.h"
#include "utf8.h"

/* The readable extent of the buffer a term is decoded from. */
struct src {
    const char *buf;
    int end; /* first index past the readable bytes */
};

typedef PyObject *(*opaque_ctor)(const char *term, Py_ssize_t len);

static _Thread_local char atom_buf[MAXATOMLEN_UTF8];

static PyObject *decode(const struct src *s, int *idx, int depth);

/* Errors: NULL or -1 with TypeError set. */

static void *malformed(void)
{
    PyErr_SetString(PyExc_TypeError, "malformed term");
    return NULL;
}

static void *no_mapping(const char *what)
{
    PyErr_Format(PyExc_TypeError, "cannot convert an Erlang %s to Python", what);
    return NULL;
}

static void *bad_kwargs(void)
{
    PyErr_SetString(PyExc_TypeError, CONVERT_KWARGS_ERROR);
    return NULL;
}

/* Decoding: bounds */

/* 0 if n bytes from buf[idx] are readable, else -1. */
static int need(const struct src *s, int idx, long long n)
{
    if (idx >= 0 && n >= 0 && idx + n <= s->end)
        return 0;
    return FAIL(malformed());
}

/* Bytes after a tag that are fixed for it: length or arity fields, a
 * sign byte, the whole payload of a number. */
static int fixed_size(int tag)
{
    size_t head = envelope_head_size(tag); /* the tag byte included */
    return head > 0 ? (int)head - 1 : 0;
}

/* The tag at buf[idx], its fixed bytes known readable; or -1. */
static int peek(const struct src *s, int idx)
{
    if (need(s, idx, 1) < 0)
        return -1;
    int tag = (unsigned char)s->buf[idx];
    return need(s, idx, 1 + fixed_size(tag)) < 0 ? -1 : tag;
}

/* The length ei_get_type reports for the term at buf[*idx] (tag as
 * peeked), once that many bytes are known readable; or -1. */
static int sized(const struct src *s, const int *idx, int tag)
{
    int type, size;
    ei_get_type(s->buf, idx, &type, &size);
    return need(s, *idx + 1 + fixed_size(tag), size) < 0 ? -1 : size;
}

static int is_atom_tag(int tag)
{
    return tag == ERL_ATOM_EXT || tag == ERL_SMALL_ATOM_EXT || tag == ERL_ATOM_UTF8_EXT ||
           tag == ERL_SMALL_ATOM_UTF8_EXT;
}

/* Decoding: numbers */

/* FLOAT_EXT (minor_version 0): 31 bytes of "%.20e" text, NUL-padded by
 * Erlang. ei parses it with sscanf, which would run on past the 31 bytes
 * (and past `end`) if they hold no NUL: it gets a terminated copy. */
static PyObject *decode_float_text(const struct src *s, int *idx)
{
    char term[1 + 31 + 1] = {ERL_FLOAT_EXT};
    int i = 0;
    double d;
    memcpy(term + 1, s->buf + *idx + 1, 31);
    if (ei_decode_double(term, &i, &d) < 0)
        return malformed();
    *idx += i;
    return PyFloat_FromDouble(d);
}

/* The fixed-size numbers, tag as peeked: SMALL_INTEGER_EXT, INTEGER_EXT,
 * FLOAT_EXT, NEW_FLOAT_EXT. */
static PyObject *decode_number(const struct src *s, int *idx, int tag)
{
    if (tag == ERL_SMALL_INTEGER_EXT) { /* 0..255; its byte peeked readable */
        *idx += 2;
        return PyLong_FromLong((unsigned char)s->buf[*idx - 1]);
    }
    if (tag == ERL_INTEGER_EXT) { /* signed 32 bits, big-endian; peeked readable */
        uint32_t be;
        memcpy(&be, s->buf + *idx + 1, sizeof(be));
        *idx += 5;
        return PyLong_FromLong((int32_t)be32toh(be));
    }
    if (tag == ERL_FLOAT_EXT)
        return decode_float_text(s, idx);
    /* NEW_FLOAT_EXT: IEEE 754, big-endian; its 8 bytes peeked readable */
    uint64_t u;
    double d;
    memcpy(&u, s->buf + *idx + 1, sizeof(u));
    u = be64toh(u);
    memcpy(&d, &u, sizeof(d));
    *idx += 9;
    return PyFloat_FromDouble(d);
}

/* SMALL_BIG_EXT, LARGE_BIG_EXT: tag, digit count, sign, little-endian
 * digits. ei decodes those that fit a long long; int.from_bytes the rest. */
static PyObject *decode_big(const struct src *s, int *idx, int tag)
{
    int n = sized(s, idx, tag), head = 1 + fixed_size(tag), i = *idx;
    long long v;
    if (n < 0)
        return NULL;
    int sign = (unsigned char)s->buf[*idx + head - 1];
    if (sign > 1)
        return malformed();
    if (n <= 8 && ei_decode_longlong(s->buf, &i, &v) == 0) {
        *idx = i;
        return PyLong_FromLongLong(v);
    }
    PyObject *mv = PyMemoryView_FromMemory((char *)s->buf + *idx + head, n, PyBUF_READ);
    PyObject *r = mv == NULL ? NULL
                             : PyObject_CallMethod((PyObject *)&PyLong_Type, "from_bytes", "Os", mv,
                                                   "little");
    Py_XDECREF(mv);
    if (r != NULL && sign)
        Py_SETREF(r, PyNumber_Negative(r));
    if (r != NULL)
        *idx += head + n;
    return r;
}

/* Decoding: atoms, binaries */

/* Decodes the atom at buf[*idx] into atom_buf as UTF-8; returns the length
 * of the name (a Latin-1 name grows a byte per char >= 0x80), or -1. */
static int atom_name(const struct src *s, int *idx)
{
    int tag = peek(s, *idx), n;
    if (tag >= 0 && !is_atom_tag(tag))
        malformed();
    if (tag < 0 || !is_atom_tag(tag) || (n = sized(s, idx, tag)) < 0)
        return -1;
    const unsigned char *p = (const unsigned char *)s->buf + *idx + 1 + fixed_size(tag);
    int len = n;
    if (tag == ERL_ATOM_EXT || tag == ERL_SMALL_ATOM_EXT)
        for (int i = 0; i < n; i++)
            len += p[i] >> 7;
    if (ei_decode_atom_as(s->buf, idx, atom_buf, sizeof atom_buf, ERLANG_UTF8, NULL, NULL) < 0)
        return FAIL(malformed());
    return len;
}

/* Py_None, Py_True or Py_False for the atoms that stand for them. */
static PyObject *special_atom(const char *name, int len)
{
    static const char *const names[] = {"true", "false", "none", "nil", "undefined"};
    PyObject *const values[] = {Py_True, Py_False, Py_None, Py_None, Py_None};
    for (int i = 0; i < 5; i++)
        if ((size_t)len == strlen(names[i]) && !memcmp(name, names[i], len))
            return values[i];
    return NULL;
}

/* Bytes that Erlang sent as UTF-8 and are not are a malformed term. */
static PyObject *utf8_or_malformed(PyObject *v)
{
    if (v == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear();
        return malformed();
    }
    return v;
}

static PyObject *decode_atom(const struct src *s, int *idx)
{
    int len = atom_name(s, idx);
    if (len < 0)
        return NULL;
    PyObject *v = special_atom(atom_buf, len);
    if (v != NULL)
        return Py_NewRef(v);
    return utf8_or_malformed(erlmod_atom_from_erlang(atom_buf, len));
}

/* Points *p at the bytes of the binary at buf[*idx] (BINARY_EXT, or
 * BIT_BINARY_EXT of whole bytes) and sets *n; or -1. */
static int binary_at(const struct src *s, int *idx, const char **p, int *n)
{
    int tag = peek(s, *idx);
    if (tag == ERL_BINARY_EXT) { /* the common case, read in place */
        uint32_t be;
        memcpy(&be, s->buf + *idx + 1, sizeof(be)); /* its 4 bytes peeked readable */
        long long len = be32toh(be);
        if (need(s, *idx + 5, len) < 0)
            return -1;
        *p = s->buf + *idx + 5;
        *n = (int)len;
        *idx += 5 + (int)len;
        return 0;
    }
    unsigned int offset;
    size_t bits;
    if (tag < 0 || sized(s, idx, tag) < 0)
        return -1;
    if (ei_decode_bitstring(s->buf, idx, p, &offset, &bits) < 0)
        return FAIL(malformed());
    if (bits % 8 != 0)
        return FAIL(no_mapping("bitstring"));
    *n = (int)(bits / 8);
    return 0;
}

/* A str of n ASCII bytes: copied into a new compact str, where Python's
 * decoder would look at each byte again (5 % of py_port's samples in
 * round trips of a map of 10,000 short keys). One character or none:
 * Python's own shared strings. */
static PyObject *ascii_str(const char *p, int n)
{
    if (n <= 1)
        return PyUnicode_DecodeUTF8(p, n, NULL);
    PyObject *str = PyUnicode_New(n, 127);
    if (str)
        memcpy(PyUnicode_1BYTE_DATA(str), p, (size_t)n);
    return str;
}

/* A binary: str if it is UTF-8, else bytes. */
static PyObject *decode_binary(const struct src *s, int *idx)
{
    const char *p;
    int n;
    if (binary_at(s, idx, &p, &n) < 0)
        return NULL;
    enum utf8_text text = utf8_classify(p, (size_t)n);
    if (text == UTF8_ASCII)
        return ascii_str(p, n);
    if (text == UTF8_NON_ASCII)
        return PyUnicode_DecodeUTF8(p, n, NULL);
    PyObject *bytes = PyBytes_FromStringAndSize(NULL, n);
    if (bytes) {
        bigmem_advise(PyBytes_AS_STRING(bytes), (size_t)n);
        memcpy(PyBytes_AS_STRING(bytes), p, (size_t)n);
    }
    return bytes;
}

/* Decoding: lists */

/* Appends the bytes of the STRING_EXT at buf[*idx] to list as ints. */
static int string_items(const struct src *s, int *idx, PyObject *list)
{
    int n = sized(s, idx, ERL_STRING_EXT);
    if (n < 0)
        return -1;
    const unsigned char *p = (const unsigned char *)s->buf + *idx + 3;
    for (int i = 0; i < n; i++) {
        PyObject *v = PyLong_FromLong(p[i]);
        int rc = v == NULL ? -1 : PyList_Append(list, v);
        Py_XDECREF(v);
        if (rc < 0)
            return -1;
    }
    *idx += 3 + n;
    return 0;
}

/* A LIST_EXT header whose n elements and tail can fit in the buffer. */
static int list_header(const struct src *s, int *idx, int *n)
{
    if (ei_decode_list_header(s->buf, idx, n) == 0 && *n >= 0)
        return need(s, *idx, (long long)*n + 1);
    return FAIL(malformed());
}

/* Appends the n terms at buf[*idx] to *list: into a list made at their
 * number (a slot not filled yet is NULL, which the list's clean-up skips),
 * which becomes *list if that is empty (the one chunk of term_to_binary),
 * else is joined to it. */
static int list_items(const struct src *s, int *idx, int depth, PyObject **list, int n)
{
    PyObject *items = PyList_New(n);
    for (int i = 0; items != NULL && i < n; i++) {
        int is_float = *idx + 1 + fixed_size(NEW_FLOAT_EXT) <= s->end /* peek()'s bound */
                       && (unsigned char)s->buf[*idx] == NEW_FLOAT_EXT;
        PyObject *item = is_float ? decode_number(s, idx, NEW_FLOAT_EXT) /* no dispatch */
                                  : decode(s, idx, depth);
        if (item == NULL)
            Py_CLEAR(items);
        else
            PyList_SET_ITEM(items, i, item);
    }
    if (items == NULL)
        return -1;
    if (PyList_GET_SIZE(*list) == 0) {
        Py_SETREF(*list, items);
        return 0;
    }
    int rc = PyList_SetSlice(*list, PY_SSIZE_T_MAX, PY_SSIZE_T_MAX, items);
    Py_DECREF(items);
    return rc;
}

/* NIL_EXT, STRING_EXT, or LIST_EXT chunks (one from term_to_binary; ei
 * users may build [1 | [2]]) that end in NIL_EXT or a STRING_EXT; any
 * other tail makes an improper list. */
static PyObject *decode_list(const struct src *s, int *idx, int depth)
{
    int tag = peek(s, *idx), n;
    PyObject *list = too_deep(depth) < 0 ? NULL : PyList_New(0);
    while (list != NULL && tag == ERL_LIST_EXT) {
        if (list_header(s, idx, &n) < 0 || list_items(s, idx, depth + 1, &list, n) < 0)
            Py_CLEAR(list);
        else
            tag = peek(s, *idx);
    }
    if (list != NULL && tag == ERL_NIL_EXT)
        (*idx)++;
    if (list == NULL || tag == ERL_NIL_EXT)
        return list;
    if (tag == ERL_STRING_EXT && string_items(s, idx, list) == 0)
        return list;
    if (tag >= 0 && tag != ERL_STRING_EXT)
        no_mapping("improper list");
    Py_DECREF(list);
    return NULL;
}

/* Decoding: tuples, maps */

/* If buf[*idx] continues a 2-tuple as `bytes, Binary`: 1 with *idx moved
 * to the binary. Otherwise 0, *idx and the error indicator untouched. */
static int bytes_tag(const struct src *s, int *idx)
{
    int i = *idx;
    int found = atom_name(s, &i) == 5 && !memcmp(atom_buf, "bytes", 5) &&
                (peek(s, i) == ERL_BINARY_EXT || peek(s, i) == ERL_BIT_BINARY_EXT);
    if (found)
        *idx = i;
    else
        PyErr_Clear(); /* decoding the tuple reports bad bytes itself */
    return found;
}

/* If buf[*idx] continues a 3-tuple as `'$py_ref', Nonce, Id`: 1 with *idx
 * moved to Nonce. Otherwise 0, *idx and the error indicator untouched. */
static int ref_tag(const struct src *s, int *idx)
{
    int i = *idx;
    size_t n = sizeof(OBJREF_TAG) - 1;
    int tag;
    int found = atom_name(s, &i) == (int)n && !memcmp(atom_buf, OBJREF_TAG, n) &&
                ((tag = peek(s, i)) == ERL_SMALL_INTEGER_EXT || tag == ERL_INTEGER_EXT ||
                 tag == ERL_SMALL_BIG_EXT);
    if (found)
        *idx = i;
    else
        PyErr_Clear();
    return found;
}

/* Nonce and Id of a reference term: the object it stands for. */
static PyObject *decode_ref(const struct src *s, int *idx, int depth)
{
    PyObject *nonce = decode(s, idx, depth + 1);
    PyObject *id = nonce ? decode(s, idx, depth + 1) : NULL;
    PyObject *obj = NULL;
    if (id && PyLong_Check(nonce) && PyLong_Check(id)) {
        unsigned long long n = PyLong_AsUnsignedLongLong(nonce);
        long long i = PyErr_Occurred() ? 0 : PyLong_AsLongLong(id);
        if (PyErr_Occurred() && PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear(); /* held by no port: id 0 is never held, so it is stale */
            n = 0, i = 0;
        }
        obj = PyErr_Occurred() ? NULL : objref_lookup(n, i);
    } else if (id) {
        malformed();
    }
    Py_XDECREF(nonce);
    Py_XDECREF(id);
    return obj;
}

/* If buf[*idx] continues a 4-tuple as `ndarray, ...`: 1 with *idx moved
 * to the dtype. Otherwise 0, *idx and the error indicator untouched. */
static int ndarray_tag(const struct src *s, int *idx)
{
    int i = *idx;
    int found = atom_name(s, &i) == 7 && !memcmp(atom_buf, "ndarray", 7);
    if (found)
        *idx = i;
    else
        PyErr_Clear();
    return found;
}

/* Dtype, Shape and Data of {ndarray, Dtype, Shape, Data}: a numpy array
 * (convert_internal.h); Data must be a binary. */
static PyObject *decode_ndarray(const struct src *s, int *idx, int depth)
{
    const char *p;
    int n, tag;
    PyObject *dtype = decode(s, idx, depth + 1);
    PyObject *shape = dtype ? decode(s, idx, depth + 1) : NULL;
    PyObject *a = NULL;
    if (shape && (tag = peek(s, *idx)) >= 0 && tag != ERL_BINARY_EXT && tag != ERL_BIT_BINARY_EXT)
        PyErr_SetString(PyExc_TypeError,
                        "the data of {ndarray, Dtype, Shape, Data} must be a binary");
    else if (shape && binary_at(s, idx, &p, &n) == 0)
        a = convert_ndarray_from(dtype, shape, p, n);
    Py_XDECREF(dtype);
    Py_XDECREF(shape);
    return a;
}

static PyObject *decode_tuple(const struct src *s, int *idx, int depth)
{
    int n;
    const char *p;
    if (too_deep(depth) < 0)
        return NULL;
    if (ei_decode_tuple_header(s->buf, idx, &n) < 0 || n < 0)
        return malformed();
    if (n == 2 && bytes_tag(s, idx))
        return binary_at(s, idx, &p, &n) < 0 ? NULL : PyBytes_FromStringAndSize(p, n);
    if (n == 3 && ref_tag(s, idx))
        return decode_ref(s, idx, depth);
    if (n == 4 && ndarray_tag(s, idx))
        return decode_ndarray(s, idx, depth);
    if (need(s, *idx, n) < 0)
        return NULL;
    PyObject *t = PyTuple_New(n);
    for (int i = 0; t != NULL && i < n; i++) {
        PyObject *item = decode(s, idx, depth + 1);
        if (item == NULL)
            Py_CLEAR(t);
        else
            PyTuple_SET_ITEM(t, i, item);
    }
    return t;
}

/* Adds k: v as entry number `count` of dict; TypeError if k is unhashable
 * or equal in Python to an earlier key. */
static int add_entry(PyObject *dict, PyObject *k, PyObject *v, int count)
{
    if (PyDict_SetDefault(dict, k, v) == NULL)
        return -1;
    if (PyDict_GET_SIZE(dict) == count + 1)
        return 0;
    return FAIL(
        PyErr_Format(PyExc_TypeError, "two keys of the map convert to the same Python key %R", k));
}

/* A MAP_EXT header whose n pairs can fit in the buffer. */
static int map_header(const struct src *s, int *idx, int *n)
{
    if (ei_decode_map_header(s->buf, idx, n) == 0 && *n >= 0)
        return need(s, *idx, 2LL * *n);
    return FAIL(malformed());
}

/* The most entries a map's dict is made with room for ahead of them: a
 * frame that only claims a huge map must not get a huge empty table
 * before its first bad entry; a larger map grows past it. */
#define MAP_PRESIZE_MAX 65536

/* A map whose keys come from key() (decode, or kwarg_name). */
static PyObject *decode_pairs(const struct src *s, int *idx, int depth,
                              PyObject *(*key)(const struct src *, int *, int))
{
    int n;
    if (too_deep(depth) < 0 || map_header(s, idx, &n) < 0)
        return NULL;
    PyObject *dict = pycompat_dict_for(n < MAP_PRESIZE_MAX ? n : MAP_PRESIZE_MAX);
    for (int i = 0; dict != NULL && i < n; i++) {
        PyObject *k = key(s, idx, depth + 1);
        PyObject *v = k == NULL ? NULL : decode(s, idx, depth + 1);
        if (v == NULL || add_entry(dict, k, v, i) < 0)
            Py_CLEAR(dict);
        Py_XDECREF(k);
        Py_XDECREF(v);
    }
    return dict;
}

/* Decoding: pids, references */

/* Bytes of the pid or reference at buf[idx] (tag as peeked), or -1.
 * Layout: tag, [id count], node atom, fixed fields. */
static int opaque_span(const struct src *s, int idx, int tag)
{
    const unsigned char *p = (const unsigned char *)s->buf + idx + 1;
    int before = fixed_size(tag) ? 3 : 1, after, node = idx + before, len;
    int words = before == 3 ? p[0] << 8 | p[1] : 0, atom = peek(s, node);
    switch (tag) {
    case ERL_PID_EXT:
        after = 4 + 4 + 1;
        break;
    case ERL_NEW_PID_EXT:
        after = 4 + 4 + 4;
        break;
    case ERL_REFERENCE_EXT:
        after = 4 + 1;
        break;
    case ERL_NEW_REFERENCE_EXT:
        after = 1 + 4 * words;
        break;
    default:
        after = 4 + 4 * words;
        break;
    }
    if (atom < 0 || !is_atom_tag(atom))
        return atom < 0 ? -1 : FAIL(malformed());
    if ((len = sized(s, &node, atom)) < 0)
        return -1;
    len += before + 1 + fixed_size(atom);
    return need(s, idx + len, after) < 0 ? -1 : len + after;
}

/* A Pid or Ref holding the exact bytes of the term (ei must agree on
 * where it ends). */
static PyObject *decode_opaque(const struct src *s, int *idx, int tag, opaque_ctor make)
{
    int span = opaque_span(s, *idx, tag), end = *idx;
    if (span < 0)
        return NULL;
    if (ei_skip_term(s->buf, &end) < 0 || end != *idx + span)
        return malformed();
    PyObject *v = make(s->buf + *idx, span);
    if (v != NULL)
        *idx += span;
    return v;
}

static PyObject *decode(const struct src *s, int *idx, int depth)
{
    int tag = peek(s, *idx);
    switch (tag) {
    case -1:
        return NULL;
    case ERL_SMALL_INTEGER_EXT:
    case ERL_INTEGER_EXT:
    case ERL_FLOAT_EXT:
    case NEW_FLOAT_EXT:
        return decode_number(s, idx, tag);
    case ERL_SMALL_BIG_EXT:
    case ERL_LARGE_BIG_EXT:
        return decode_big(s, idx, tag);
    case ERL_ATOM_EXT:
    case ERL_SMALL_ATOM_EXT:
    case ERL_ATOM_UTF8_EXT:
    case ERL_SMALL_ATOM_UTF8_EXT:
        return decode_atom(s, idx);
    case ERL_BINARY_EXT:
    case ERL_BIT_BINARY_EXT:
        return decode_binary(s, idx);
    case ERL_NIL_EXT:
    case ERL_STRING_EXT:
    case ERL_LIST_EXT:
        return decode_list(s, idx, depth);
    case ERL_SMALL_TUPLE_EXT:
    case ERL_LARGE_TUPLE_EXT:
        return decode_tuple(s, idx, depth);
    case ERL_MAP_EXT:
        return decode_pairs(s, idx, depth, decode);
    case ERL_PID_EXT:
    case ERL_NEW_PID_EXT:
        return decode_opaque(s, idx, tag, erlmod_pid_new);
    case ERL_REFERENCE_EXT:
    case ERL_NEW_REFERENCE_EXT:
    case ERL_NEWER_REFERENCE_EXT:
        return decode_opaque(s, idx, tag, erlmod_ref_new);
    case ERL_PORT_EXT:
    case ERL_NEW_PORT_EXT:
    case ERL_V4_PORT_EXT:
        return no_mapping("port");
    case ERL_FUN_EXT:
    case ERL_NEW_FUN_EXT:
    case ERL_EXPORT_EXT:
        return no_mapping("fun");
    default:
        return malformed();
    }
}

PyObject *convert_term_to_py(const char *buf, int len, int *index)
{
    struct src s = {buf, len};
    int i = *index;
    PyObject *v = decode(&s, &i, 0);
    if (v != NULL)
        *index = i;
    return v;
}

/* A plain str for the atom key at buf[*idx]. The atom is recorded as one
 * that arrived from Erlang, as an atom anywhere else in a term is. */
static PyObject *atom_kwarg_name(const struct src *s, int *idx)
{
    int n = atom_name(s, idx);
    if (n < 0)
        return NULL;
    PyObject *atom = utf8_or_malformed(erlmod_atom_from_erlang(atom_buf, n));
    PyObject *name = atom == NULL ? NULL : PyUnicode_FromObject(atom);
    Py_XDECREF(atom);
    return name;
}

/* A plain str for the atom or UTF-8 binary key at buf[*idx]. */
static PyObject *kwarg_name(const struct src *s, int *idx, int depth)
{
    int tag = peek(s, *idx);
    (void)depth;
    if (tag >= 0 && is_atom_tag(tag))
        return atom_kwarg_name(s, idx);
    if (tag != ERL_BINARY_EXT)
        return tag < 0 ? NULL : bad_kwargs();
    PyObject *v = decode_binary(s, idx);
    if (v == NULL || PyUnicode_CheckExact(v))
        return v;
    Py_DECREF(v);
    return bad_kwargs();
}

PyObject *convert_term_to_kwargs(const char *buf, int len, int *index)
{
    struct src s = {buf, len};
    int i = *index, tag = peek(&s, i);
    if (tag != ERL_MAP_EXT)
        return tag < 0 ? NULL : bad_kwargs();
    PyObject *dict = decode_pairs(&s, &i, 0, kwarg_name);
    if (dict != NULL)
        *index = i;
    return dict;
}
