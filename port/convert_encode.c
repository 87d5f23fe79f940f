/*
 * convert_encode: Python objects -> Erlang external term format.
 *
 * DESIGN: the Python-to-Erlang table of docs/types.md. Called on context
 * threads with the GIL held, the only lock; no state of its own (the atom
 * cap belongs to erlmod.c). Terms are appended to the caller's ei_x_buff;
 * on failure the buffer holds a partial term the caller rewinds.
 *
 * Dispatch, the one place that decides an object's term, in order:
 * exact built-in types (the common case: one pointer compare each); the
 * encoders Python code registered (erlang.register_encoder, per
 * interpreter); erlang.Atom, Pid and Ref; subclasses of the built-in
 * types; the known types of the standard library and numpy
 * (convert_types.c); a reference to the object. Integers and atoms are
 * written as term_to_binary writes them, so a decoded term encodes back to
 * the very same bytes. Sizes: room() keeps ei's int index clear of
 * overflow, and an int beyond what binary_to_term/1 accepts is refused
 * rather than sent.
 *
 * Recursion: encode() recurses once per list, tuple, dict or set and
 * refuses the level past CONVERT_MAX_DEPTH, so a list that contains itself
 * fails instead of exhausting the C stack. Python code can run during
 * encoding (a finalizer run by the GC, a __hash__ of a key): a container
 * that changes size under us is an error, not a crash.
 *
 * Map keys: distinct dict keys can meet in Erlang ({'a': 1, b'a': 2});
 * Erlang's binary_to_term refuses duplicate keys, so TypeError rather than
 * a reply the caller cannot read.
 */
#include "convert.h"

#include <endian.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "convert_internal.h"
#include "erlmod.h"
#include "objref.h"
#include "pycompat.h"

/* The most digit bytes binary_to_term takes in a bignum (OTP 25, 64-bit:
 * 2**19 - 1 words), about 2**33554368. */
#define ERL_BIG_MAX_BYTES 4194296

static int encode(PyObject *o, ei_x_buff *x, int depth);

/* The bytes encode() keeps free before each term: enough for a number,
 * a short atom or a container's header, plus the 100 bytes ei wants free
 * beyond what it writes (ei_x_extra), without a realloc(). */
#define TERM_ROOM 256

/* The atom None is sent as (convert_set_none_atom()). */
static const char *none_name = "none";

/* Encoding: buffer, atoms, text */

/* ei_x_* fail only when realloc does (or on input we never give them). */
static int ei_check(int rc)
{
    return rc == 0 ? 0 : FAIL(PyErr_NoMemory());
}

/* Where convert_py_to_term_parts() collects large binaries; NULL while
 * they are copied (convert_py_to_term(), dict keys). Per thread: a
 * conversion may run Python code that lets another thread convert. */
static _Thread_local struct convert_parts *parts_out;

/* 0 if n more bytes keep x's int index and size clear of overflow. */
static int room(const ei_x_buff *x, Py_ssize_t n)
{
    Py_ssize_t outside = parts_out ? parts_out->total : 0;
    if (n <= (Py_ssize_t)INT_MAX - 4096 - x->index - outside)
        return 0;
    return FAIL(PyErr_SetString(PyExc_TypeError, "object too large to convert to an Erlang term"));
}

/* Grows x, when fewer than `need` bytes are free, to twice its size (or
 * what it needs): ei's own growth adds about 200 bytes at a time, one
 * realloc() every few terms of a long list. 0, or -1 with TypeError when
 * the term would outgrow ei's int index (room()), or MemoryError. */
static int headroom(ei_x_buff *x, Py_ssize_t need)
{
    if (room(x, need) < 0)
        return -1;
    if (x->buffsz - x->index >= need)
        return 0;
    Py_ssize_t size = Py_MAX(2 * (Py_ssize_t)x->buffsz, x->index + need);
    if (size > INT_MAX)
        size = INT_MAX;
    char *buff = realloc(x->buff, (size_t)size); /* ei allocates with malloc() */
    if (!buff)
        return FAIL(PyErr_NoMemory());
    x->buff = buff;
    x->buffsz = (int)size;
    return 0;
}

/* The next n bytes of x, for a term to be written there; for a small
 * one encode() has made the room already, so this is a compare, no call
 * into ei. NULL with MemoryError (or TypeError, see room()). */
static char *reserve(ei_x_buff *x, int n)
{
    if (x->buffsz - x->index < n && headroom(x, n) < 0)
        return NULL;
    x->index += n;
    return x->buff + x->index - n;
}

static int atom_out(ei_x_buff *x, const char *name, Py_ssize_t len)
{
    return ei_check(ei_x_encode_atom_len_as(x, name, (int)len, ERLANG_UTF8, ERLANG_UTF8));
}

/* A binary of n bytes at p, owned by the immutable object o: copied into
 * x, or left out as a part when it is large and parts are collected. */
static int binary_out(PyObject *o, const char *p, Py_ssize_t n, ei_x_buff *x)
{
    if (room(x, n) < 0)
        return -1;
    struct convert_parts *parts = parts_out;
    int copied = !parts || n < CONVERT_PART_MIN || parts->n == CONVERT_MAX_PARTS;
    unsigned char *out = (unsigned char *)reserve(x, 5 + (int)(copied ? n : 0));
    if (!out)
        return -1;
    uint32_t len = htobe32((uint32_t)n);
    out[0] = ERL_BINARY_EXT;
    memcpy(out + 1, &len, sizeof(len));
    if (copied) {
        memcpy(out + 5, p, (size_t)n);
        return 0;
    }
    Py_INCREF(o);
    parts->part[parts->n++] = (struct convert_part){x->index, p, n, o};
    parts->total += n;
    return 0;
}

/* A str as a binary, or an Atom as an atom (if the cap admits it). The
 * UTF-8 form is cached in the str by CPython (none is made for ASCII). */
static int encode_text(PyObject *o, int as_atom, ei_x_buff *x)
{
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(o, &n);
    if (p == NULL) {
        if (PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
            PyErr_Clear();
            PyErr_SetString(PyExc_TypeError, "cannot convert a str with a "
                                             "lone surrogate to Erlang");
        }
        return -1;
    }
    if (as_atom)
        return erlmod_atom_admit(o) < 0 ? -1 : atom_out(x, p, n);
    return binary_out(o, p, n, x);
}

/* Encoding: scalars */

/* SMALL_BIG_EXT or LARGE_BIG_EXT with the digits of int.to_bytes. */
static int encode_big(PyObject *o, int negative, ei_x_buff *x)
{
    PyObject *exact = PyNumber_Index(o), *mag = NULL, *bits = NULL;
    PyObject *digits = NULL;
    char head[6];
    int h = 0, rc = -1;
    if (!exact || !(mag = PyNumber_Absolute(exact)) ||
        !(bits = PyObject_CallMethod(mag, "bit_length", NULL)))
        goto done;
    Py_ssize_t n = (PyLong_AsSsize_t(bits) + 7) / 8;
    if (n > ERL_BIG_MAX_BYTES)
        PyErr_SetString(PyExc_TypeError, "integer too large for Erlang");
    if (n > ERL_BIG_MAX_BYTES || room(x, n + 6) < 0 ||
        !(digits = PyObject_CallMethod(mag, "to_bytes", "ns", n, "little")))
        goto done;
    head[h++] = n <= 255 ? ERL_SMALL_BIG_EXT : ERL_LARGE_BIG_EXT;
    for (int shift = n <= 255 ? 0 : 24; shift >= 0; shift -= 8)
        head[h++] = (char)(n >> shift);
    head[h++] = (char)negative;
    if (ei_check(ei_x_append_buf(x, head, h)) == 0)
        rc = ei_check(ei_x_append_buf(x, PyBytes_AS_STRING(digits), (int)n));
done:
    Py_XDECREF(exact);
    Py_XDECREF(mag);
    Py_XDECREF(bits);
    Py_XDECREF(digits);
    return rc;
}

/* SMALL_INTEGER_EXT or INTEGER_EXT as term_to_binary picks them (ei
 * would write a bignum above 2**27), SMALL_BIG_EXT beyond 32 bits. */
static int encode_int(PyObject *o, ei_x_buff *x)
{
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow != 0)
        return encode_big(o, overflow < 0, x);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (v < INT32_MIN || v > INT32_MAX)
        return ei_check(ei_x_encode_longlong(x, v));
    int small = v >= 0 && v <= 255;
    char *out = reserve(x, small ? 2 : 5);
    if (!out)
        return -1;
    if (small) {
        out[0] = ERL_SMALL_INTEGER_EXT;
        out[1] = (char)v;
    } else {
        uint32_t be = htobe32((uint32_t)v);
        out[0] = ERL_INTEGER_EXT;
        memcpy(out + 1, &be, sizeof(be)); /* in place: a copy through the stack stalls */
    }
    return 0;
}

static int encode_float(PyObject *o, ei_x_buff *x)
{
    double d = PyFloat_AS_DOUBLE(o);
    if (isnan(d))
        return atom_out(x, "nan", 3);
    if (isinf(d))
        return d > 0 ? atom_out(x, "infinity", 8) : atom_out(x, "neg_infinity", 12);
    uint64_t u;
    char *out = reserve(x, 1 + sizeof(u));
    if (!out)
        return -1;
    memcpy(&u, &d, sizeof(u));
    u = htobe64(u); /* IEEE 754, big-endian */
    out[0] = NEW_FLOAT_EXT;
    memcpy(out + 1, &u, sizeof(u)); /* in place: a copy through the stack stalls */
    return 0;
}

/* bytes, bytearray, memoryview: any C-contiguous buffer. */
static int encode_buffer(PyObject *o, ei_x_buff *x)
{
    Py_buffer view;
    if (PyObject_GetBuffer(o, &view, PyBUF_CONTIG_RO) < 0) {
        if (PyErr_ExceptionMatches(PyExc_BufferError)) {
            PyErr_Clear();
            PyErr_SetString(PyExc_TypeError, "cannot convert a non-contiguous "
                                             "buffer to an Erlang binary");
        }
        return -1;
    }
    int rc;
    if (PyBytes_CheckExact(o)) /* immutable: its data may be left out */
        rc = binary_out(o, view.buf, view.len, x);
    else
        rc = room(x, view.len) < 0 ? -1 : ei_check(ei_x_encode_binary(x, view.buf, (int)view.len));
    PyBuffer_Release(&view);
    return rc;
}

/* Encoding: containers */

static int changed_size(PyObject *o)
{
    return FAIL(PyErr_Format(PyExc_RuntimeError, "%.200s changed size during conversion",
                             Py_TYPE(o)->tp_name));
}

/* A list or tuple as an Erlang list or tuple. A list that shrinks under
 * us (a finalizer run by the GC) is an error, not a crash. */
static int encode_items(PyObject *seq, int as_list, ei_x_buff *x, int depth)
{
    Py_ssize_t n = Py_SIZE(seq);
    if (too_deep(depth) < 0 || room(x, n) < 0)
        return -1;
    if (as_list && n == 0)
        return ei_check(ei_x_encode_empty_list(x));
    if (ei_check(as_list ? ei_x_encode_list_header(x, n) : ei_x_encode_tuple_header(x, n)) < 0)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i >= Py_SIZE(seq))
            return changed_size(seq);
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        int rc;
        if (PyFloat_CheckExact(item)) { /* runs no Python code: no reference needed */
            rc = encode_float(item, x);
        } else {
            Py_INCREF(item);
            rc = encode(item, x, depth + 1);
            Py_DECREF(item);
        }
        if (rc < 0)
            return -1;
    }
    return as_list ? ei_check(ei_x_encode_empty_list(x)) : 0;
}

/* Keys no other key of a dict can share an Erlang form with: exact str,
 * int and finite float, True, False, None, Pid, Ref. One other key (bytes,
 * Atom, tuple, nan, a subclass...) in a dict turns on the duplicate check. */
static int all_plain_keys(PyObject *dict)
{
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(dict, &pos, &k, &v))
        if (!(PyUnicode_CheckExact(k) || PyLong_CheckExact(k) ||
              (PyFloat_CheckExact(k) && isfinite(PyFloat_AS_DOUBLE(k))) || k == Py_True ||
              k == Py_False || k == Py_None || Py_IS_TYPE(k, erlmod_pid_type()) ||
              Py_IS_TYPE(k, erlmod_ref_type())))
            return 0;
    return 1;
}

/* Records the bytes of the key just encoded (x->buff[start..]) in seen;
 * TypeError if an earlier key encoded to the same bytes. */
static int unique_key(PyObject *seen, PyObject *k, ei_x_buff *x, int start)
{
    PyObject *b = PyBytes_FromStringAndSize(x->buff + start, x->index - start);
    PyObject *prev = b == NULL ? NULL : PyDict_SetDefault(seen, b, k);
    Py_XDECREF(b);
    if (prev == NULL || prev == k)
        return prev == NULL ? -1 : 0;
    return FAIL(PyErr_Format(PyExc_TypeError, "dict keys %R and %R convert to the same Erlang term",
                             prev, k));
}

static int encode_entry(PyObject *k, PyObject *v, PyObject *seen, ei_x_buff *x, int depth)
{
    int start = x->index, rc;
    Py_INCREF(k);
    Py_INCREF(v);
    /* A key is copied whole: unique_key() compares its bytes in x. */
    struct convert_parts *parts = parts_out;
    parts_out = NULL;
    rc = encode(k, x, depth);
    parts_out = parts;
    if (rc == 0 && seen != NULL)
        rc = unique_key(seen, k, x, start);
    if (rc == 0)
        rc = encode(v, x, depth);
    Py_DECREF(k);
    Py_DECREF(v);
    return rc;
}

static int encode_dict(PyObject *o, ei_x_buff *x, int depth)
{
    Py_ssize_t n = PyDict_GET_SIZE(o), pos = 0, done = 0;
    PyObject *k, *v, *seen = NULL;
    int rc = 0;
    if (too_deep(depth) < 0 || room(x, n) < 0 || ei_check(ei_x_encode_map_header(x, n)) < 0 ||
        (!all_plain_keys(o) && (seen = PyDict_New()) == NULL))
        return -1;
    for (; rc == 0 && done < n && PyDict_Next(o, &pos, &k, &v); done++)
        rc = encode_entry(k, v, seen, x, depth + 1);
    Py_XDECREF(seen);
    return rc == 0 && done < n ? changed_size(o) : rc;
}

/* Encoding: dispatch. Exact types first; then subclasses, Atom before str.
 * bool never reaches the int case: True and False are singletons. */

static int encode_other(PyObject *o, ei_x_buff *x, int depth)
{
    PyObject *t;
    const char *term;
    Py_ssize_t len;
    int rc = convert_user_encoder(o, x, depth);
    if (rc != 1)
        return rc;
    if (PyObject_TypeCheck(o, erlmod_atom_type()))
        return encode_text(o, 1, x);
    if (Py_IS_TYPE(o, erlmod_pid_type()) || Py_IS_TYPE(o, erlmod_ref_type()))
        return erlmod_opaque_bytes(o, &term, &len) < 0
                   ? -1
                   : ei_check(ei_x_append_buf(x, term, (int)len));
    if (PyLong_Check(o))
        return encode_int(o, x);
    if (PyFloat_Check(o))
        return encode_float(o, x);
    if (PyUnicode_Check(o))
        return encode_text(o, 0, x);
    if (PyBytes_Check(o) || PyByteArray_Check(o) || PyMemoryView_Check(o))
        return encode_buffer(o, x);
    if (PyList_Check(o) || PyTuple_Check(o))
        return encode_items(o, PyList_Check(o), x, depth);
    if (PyDict_Check(o))
        return encode_dict(o, x, depth);
    if (PyAnySet_Check(o) && (t = PySequence_Tuple(o)) != NULL) {
        rc = encode_items(t, 1, x, depth);
        Py_DECREF(t);
        return rc;
    }
    if (PyErr_Occurred())
        return -1;
    rc = convert_known_type(o, x, depth);
    if (rc != 1)
        return rc;
    return objref_encode(o, x); /* no mapping: a reference, or TypeError */
}

static int encode(PyObject *o, ei_x_buff *x, int depth)
{
    if (headroom(x, TERM_ROOM) < 0)
        return -1;
    if (PyUnicode_CheckExact(o))
        return encode_text(o, 0, x);
    if (PyLong_CheckExact(o))
        return encode_int(o, x);
    if (PyFloat_CheckExact(o))
        return encode_float(o, x);
    if (o == Py_True || o == Py_False || o == Py_None)
        return o == Py_None   ? atom_out(x, none_name, (Py_ssize_t)strlen(none_name))
               : o == Py_True ? atom_out(x, "true", 4)
                              : atom_out(x, "false", 5);
    if (PyList_CheckExact(o))
        return encode_items(o, 1, x, depth);
    if (PyTuple_CheckExact(o))
        return encode_items(o, 0, x, depth);
    if (PyDict_CheckExact(o))
        return encode_dict(o, x, depth);
    return encode_other(o, x, depth);
}

int convert_encode_at(PyObject *o, ei_x_buff *x, int depth)
{
    return encode(o, x, depth);
}

void convert_set_none_atom(const char *name)
{
    static const char *const names[] = {"none", "nil", "undefined"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(name, names[i]) == 0)
            none_name = names[i];
}

int convert_py_to_term(PyObject *obj, ei_x_buff *x)
{
    struct convert_parts *saved = parts_out;
    parts_out = NULL;
    int rc = encode(obj, x, 0);
    parts_out = saved;
    return rc;
}

int convert_py_to_term_parts(PyObject *obj, ei_x_buff *x, struct convert_parts *parts)
{
    struct convert_parts *saved = parts_out;
    parts_out = parts;
    int rc = encode(obj, x, 0);
    parts_out = saved;
    return rc;
}

void convert_parts_release(struct convert_parts *parts)
{
    for (int k = 0; k < parts->n; k++)
        Py_DECREF(parts->part[k].owner);
    parts->n = 0;
    parts->total = 0;
}
