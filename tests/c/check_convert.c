/*
 * check_convert: convert_decode.c, convert_encode.c and erlmod.c against
 * the tables of docs/types.md.
 *
 * Expected bytes are what OTP 25 gives for
 * term_to_binary(T, [{minor_version, 2}]) (UTF-8 atoms, as ei writes
 * them), without the version byte; where the Erlang side is written by
 * hand (funs, ports, malformed terms) the layout is said. Python starts in
 * a checked fixture, so with the default fork mode every test gets a fresh
 * interpreter and a fresh atom cap. Under CK_FORK=no it starts once; only
 * test_convert_atom_cap then admits new atoms, so it still holds.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <check.h>
#include <ei.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check_main.h"
#include "check_python.h"
#include "convert.h"
#include "erlmod.h"
#include "objref.h"

/* An inline byte array and its length, as two arguments. */
#define BYTES(...)                                                                                 \
    (const unsigned char[]){__VA_ARGS__}, sizeof((const unsigned char[]){__VA_ARGS__})
#define ARRAY(a) a, sizeof a

/* Terms from a running node: self(), a spawned pid, make_ref(), a port. */
static const unsigned char t_pid[] = {88,  119, 13,  110, 111, 110, 111, 100, 101, 64,
                                      110, 111, 104, 111, 115, 116, 0,   0,   0,   9,
                                      0,   0,   0,   0,   0,   0,   0,   0};
static const unsigned char t_pid2[] = {88,  119, 13,  110, 111, 110, 111, 100, 101, 64,
                                       110, 111, 104, 111, 115, 116, 0,   0,   0,   79,
                                       0,   0,   0,   0,   0,   0,   0,   0};
static const unsigned char t_pid_latin1[] = {/* term_to_binary(self()) */
                                             88, 100, 0,   13,  110, 111, 110, 111, 100, 101,
                                             64, 110, 111, 104, 111, 115, 116, 0,   0,   0,
                                             9,  0,   0,   0,   0,   0,   0,   0,   0};
static const unsigned char t_ref[] = {90,  0,   3,   119, 13,  110, 111, 110, 111, 100, 101, 64,
                                      110, 111, 104, 111, 115, 116, 0,   0,   0,   0,   0,   1,
                                      28,  235, 255, 132, 0,   1,   180, 35,  177, 163};
static const unsigned char t_ref_latin1[] = {
    90,  0, 3, 100, 0, 13, 110, 111, 110, 111, 100, 101, 64, 110, 111, 104, 111, 115,
    116, 0, 0, 0,   0, 0,  1,   28,  235, 255, 132, 0,   1,  180, 35,  177, 163};
static const unsigned char t_port[] = {89,  119, 13,  110, 111, 110, 111, 100, 101, 64, 110, 111,
                                       104, 111, 115, 116, 0,   0,   0,   0,   0,   0,  0,   0};
static const unsigned char t_fun[] = {/* fun() -> ok end */
                                      112, 0,   0,   0,   71,  0,   90,  13,  146, 139, 132, 216,
                                      70,  209, 130, 1,   5,   247, 72,  77,  35,  239, 0,   0,
                                      0,   1,   0,   0,   0,   0,   119, 5,   99,  118, 103, 101,
                                      110, 97,  1,   98,  2,   208, 108, 148, 88,  119, 13,  110,
                                      111, 110, 111, 100, 101, 64,  110, 111, 104, 111, 115, 116,
                                      0,   0,   0,   9,   0,   0,   0,   0,   0,   0,   0,   0};

/* Fixture and helpers */

/* __main__ with erlang, Atom and math imported. */
static void start_python(void)
{
    check_python_start("import erlang, math\nfrom erlang import Atom\n");
}

/* A new reference to the value of a Python expression. */
static PyObject *py(const char *expr)
{
    PyObject *v = PyRun_String(expr, Py_eval_input, globals, globals);
    if (v == NULL)
        PyErr_Print();
    ck_assert_msg(v != NULL, "Python expression failed: %s", expr);
    return v;
}

/* repr(o) as a C string that lives until the next call. */
static const char *repr(PyObject *o)
{
    static char buf[512];
    PyObject *r = PyObject_Repr(o);
    ck_assert_ptr_nonnull(r);
    snprintf(buf, sizeof buf, "%s", PyUnicode_AsUTF8(r));
    Py_DECREF(r);
    return buf;
}

/* Decodes a whole buffer; on success the index must reach its end. */
static PyObject *to_py(const unsigned char *b, size_t n)
{
    int i = 0;
    PyObject *v = convert_term_to_py((const char *)b, (int)n, &i);
    if (v != NULL)
        ck_assert_int_eq(i, (int)n);
    else
        ck_assert_int_eq(i, 0);
    return v;
}

/* The bytes decode to an object with the repr of Python expression expr
 * (repr tells Atom from str, bytes from str, True from 1, 1.0 from 1). */
static void decodes_to(const unsigned char *b, size_t n, const char *expr)
{
    PyObject *v = to_py(b, n), *want = py(expr);
    if (v == NULL)
        PyErr_Print();
    ck_assert_msg(v != NULL, "decoding failed, wanted %s", expr);
    char got[512];
    snprintf(got, sizeof got, "%s", repr(v));
    ck_assert_str_eq(got, repr(want));
    ck_assert_ptr_eq(Py_TYPE(v), Py_TYPE(want));
    ck_assert_int_eq(PyObject_RichCompareBool(v, want, Py_EQ), 1);
    Py_DECREF(v);
    Py_DECREF(want);
}

/* The pending exception is exc_type and its message contains text. */
static void assert_error(PyObject *exc_type, const char *text)
{
    PyObject *type, *value, *tb;
    ck_assert_ptr_nonnull(PyErr_Occurred());
    ck_assert_msg(PyErr_ExceptionMatches(exc_type), "wrong exception type");
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    const char *msg = repr(value);
    ck_assert_msg(strstr(msg, text) != NULL, "'%s' not in %s", text, msg);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

static void decode_fails(const unsigned char *b, size_t n, const char *text)
{
    PyObject *v = to_py(b, n);
    ck_assert_msg(v == NULL, "decoded to %s", v ? repr(v) : "");
    assert_error(PyExc_TypeError, text);
}

static char *hex(const unsigned char *b, size_t n)
{
    char *s = malloc(3 * n + 1);
    s[0] = '\0';
    for (size_t i = 0; i < n; i++)
        sprintf(s + 3 * i, "%02x ", b[i]);
    return s;
}

static void assert_bytes(const ei_x_buff *x, const unsigned char *b, size_t n)
{
    char *got = hex((const unsigned char *)x->buff, x->index);
    char *want = hex(b, n);
    ck_assert_str_eq(got, want);
    free(got);
    free(want);
}

/* Object o converts to exactly these bytes. */
static void obj_encodes_to(PyObject *o, const unsigned char *b, size_t n)
{
    ei_x_buff x;
    ck_assert_int_eq(ei_x_new(&x), 0);
    int rc = convert_py_to_term(o, &x);
    if (rc != 0)
        PyErr_Print();
    ck_assert_int_eq(rc, 0);
    assert_bytes(&x, b, n);
    ei_x_free(&x);
}

static void encodes_to(const char *expr, const unsigned char *b, size_t n)
{
    PyObject *o = py(expr);
    obj_encodes_to(o, b, n);
    Py_DECREF(o);
}

static void obj_encode_fails(PyObject *o, PyObject *exc, const char *text)
{
    ei_x_buff x;
    ck_assert_int_eq(ei_x_new(&x), 0);
    ck_assert_int_eq(convert_py_to_term(o, &x), -1);
    assert_error(exc, text);
    ei_x_free(&x);
}

static void encode_fails(const char *expr, const char *text)
{
    PyObject *o = py(expr);
    obj_encode_fails(o, PyExc_TypeError, text);
    Py_DECREF(o);
}

/* Decodes, then encodes back to the very same bytes. */
static void round_trips(const unsigned char *b, size_t n)
{
    PyObject *v = to_py(b, n);
    if (v == NULL)
        PyErr_Print();
    ck_assert_ptr_nonnull(v);
    obj_encodes_to(v, b, n);
    Py_DECREF(v);
}

/* `lists` one-element lists around the term leaf; *n gets the length. */
static unsigned char *nested(int lists, const char *leaf, size_t leaf_n, size_t *n)
{
    unsigned char *b = malloc(6 * (size_t)lists + leaf_n), *p = b;
    for (int i = 0; i < lists; i++, p += 5)
        memcpy(p, "l\0\0\0\1", 5);
    memcpy(p, leaf, leaf_n);
    p += leaf_n;
    for (int i = 0; i < lists; i++)
        *p++ = 'j';
    *n = p - b;
    return b;
}

/* [[[...[]...]]]: `depth` levels of list, the innermost empty. */
static unsigned char *nested_lists(int depth, size_t *n)
{
    return nested(depth - 1, "j", 1, n);
}

static PyObject *nested_py_lists(int depth)
{
    PyObject *l = PyList_New(0);
    for (int i = 1; i < depth; i++) {
        PyObject *outer = PyList_New(1);
        PyList_SET_ITEM(outer, 0, l);
        l = outer;
    }
    return l;
}

/* Two copies of b[0, n), each ending where readable memory ends: one at
 * the end of a malloc'd block (ASan reports a read past it), one where an
 * unmapped page begins (a read past it faults in any build, also inside
 * libei, which ASan does not instrument). */
struct exact {
    char *heap, *guarded;
    char *block, *map; /* what was allocated */
    size_t map_len;
};

static void exact_new(struct exact *e, const unsigned char *b, size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t data = (n + page - 1) / page * page;
    e->map_len = data + page;
    e->map = mmap(NULL, e->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(e->map, MAP_FAILED);
    ck_assert_int_eq(mprotect(e->map + data, page, PROT_NONE), 0);
    e->guarded = e->map + data - n;
    /* a byte in front: ASan makes malloc(0) a block of 1 readable byte */
    e->block = malloc(n + 1);
    ck_assert_ptr_nonnull(e->block);
    e->heap = e->block + 1;
    memcpy(e->guarded, b, n);
    memcpy(e->heap, b, n);
}

static void exact_free(struct exact *e)
{
    free(e->block);
    munmap(e->map, e->map_len);
}

typedef PyObject *(*decoder)(const char *buf, int len, int *index);

/* b[0, n) decodes from both exact copies; every shorter prefix of it, in
 * exact copies of its own length, fails as malformed with the index left
 * alone. */
static void prefixes_fail(decoder decode, const unsigned char *b, size_t n)
{
    for (size_t k = 0; k <= n; k++) {
        struct exact e;
        exact_new(&e, b, k);
        char *copies[] = {e.heap, e.guarded};
        for (int c = 0; c < 2; c++) {
            int i = 0;
            PyObject *v = decode(copies[c], (int)k, &i);
            if (k == n && v == NULL)
                PyErr_Print();
            ck_assert_msg((v != NULL) == (k == n), "prefix of %zu of %zu bytes: %s", k, n,
                          v ? "decoded" : "failed");
            ck_assert_int_eq(i, v ? (int)n : 0);
            if (v == NULL)
                assert_error(PyExc_TypeError, "malformed term");
            Py_XDECREF(v);
        }
        exact_free(&e);
    }
}

/* Erlang to Python: numbers */

START_TEST(test_convert_small_integers_to_int)
{
    decodes_to(BYTES(97, 0), "0");
    decodes_to(BYTES(97, 255), "255");
    decodes_to(BYTES(98, 0, 0, 1, 0), "256");
    decodes_to(BYTES(98, 255, 255, 255, 255), "-1");
    decodes_to(BYTES(98, 127, 255, 255, 255), "2**31 - 1");
    decodes_to(BYTES(98, 128, 0, 0, 0), "-2**31");
}
END_TEST

START_TEST(test_convert_bignums_to_int)
{
    decodes_to(BYTES(110, 4, 0, 0, 0, 0, 128), "2**31");
    decodes_to(BYTES(110, 4, 1, 1, 0, 0, 128), "-2**31 - 1");
    decodes_to(BYTES(110, 8, 0, 255, 255, 255, 255, 255, 255, 255, 127), "2**63 - 1");
    decodes_to(BYTES(110, 8, 1, 0, 0, 0, 0, 0, 0, 0, 128), "-2**63");
    decodes_to(BYTES(110, 8, 0, 255, 255, 255, 255, 255, 255, 255, 255), "2**64 - 1");
    decodes_to(BYTES(110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), "2**64");
    decodes_to(BYTES(110, 13, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16), "2**100");
    decodes_to(BYTES(110, 13, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16), "-(2**100)");
}
END_TEST

/* LARGE_BIG_EXT: 2**2100 has 263 digit bytes, the last 0x10. */
static unsigned char *large_big(int negative, size_t *n)
{
    unsigned char *b = calloc(6 + 263, 1);
    memcpy(b, "o\0\0\1\7", 5);
    b[5] = (unsigned char)negative;
    b[6 + 262] = 16;
    *n = 6 + 263;
    return b;
}

START_TEST(test_convert_large_bignums_to_int)
{
    size_t n;
    unsigned char *b = large_big(0, &n);
    decodes_to(b, n, "2**2100");
    free(b);
    b = large_big(1, &n);
    decodes_to(b, n, "-(2**2100)");
    free(b);
}
END_TEST

START_TEST(test_convert_floats_to_float)
{
    decodes_to(BYTES(70, 63, 248, 0, 0, 0, 0, 0, 0), "1.5");
    decodes_to(BYTES(70, 191, 208, 0, 0, 0, 0, 0, 0), "-0.25");
    /* FLOAT_EXT, minor_version 0: 31 bytes of "%.20e" */
    unsigned char old[32] = {'c'};
    memcpy(old + 1, "1.50000000000000000000e+00", 26);
    decodes_to(ARRAY(old), "1.5");
    /* a list's floats, among other terms: [1.5, 1, -0.25] */
    decodes_to(BYTES(108, 0, 0, 0, 3, 70, 63, 248, 0, 0, 0, 0, 0, 0, 97, 1, 70, 191, 208, 0, 0, 0,
                     0, 0, 0, 106),
               "[1.5, 1, -0.25]");
}
END_TEST

/* Erlang to Python: atoms */

START_TEST(test_convert_true_false_to_bool)
{
    decodes_to(BYTES(119, 4, 't', 'r', 'u', 'e'), "True");
    decodes_to(BYTES(119, 5, 'f', 'a', 'l', 's', 'e'), "False");
    decodes_to(BYTES(100, 0, 4, 't', 'r', 'u', 'e'), "True");
}
END_TEST

START_TEST(test_convert_none_nil_undefined_to_none)
{
    decodes_to(BYTES(119, 4, 'n', 'o', 'n', 'e'), "None");
    decodes_to(BYTES(119, 3, 'n', 'i', 'l'), "None");
    decodes_to(BYTES(119, 9, 'u', 'n', 'd', 'e', 'f', 'i', 'n', 'e', 'd'), "None");
}
END_TEST

START_TEST(test_convert_atoms_to_atom)
{
    decodes_to(BYTES(119, 3, 'f', 'o', 'o'), "Atom('foo')");
    decodes_to(BYTES(100, 0, 3, 'f', 'o', 'o'), "Atom('foo')"); /* ATOM_EXT */
    decodes_to(BYTES(115, 3, 'f', 'o', 'o'), "Atom('foo')");    /* SMALL_ATOM_EXT */
    decodes_to(BYTES(118, 0, 3, 'f', 'o', 'o'), "Atom('foo')"); /* ATOM_UTF8_EXT */
    decodes_to(BYTES(100, 0, 1, 233), "Atom('\\xe9')");         /* Latin-1 é */
    decodes_to(BYTES(119, 2, 195, 169), "Atom('\\xe9')");
    decodes_to(BYTES(119, 3, 226, 152, 131), "Atom('\\u2603')");
    decodes_to(BYTES(119, 0), "Atom('')");
    decodes_to(BYTES(119, 3, 'a', 0, 'b'), "Atom('a\\x00b')");
    decodes_to(BYTES(119, 3, 'n', 'a', 'n'), "Atom('nan')");
}
END_TEST

START_TEST(test_convert_atom_behaves_as_str)
{
    PyObject *a = to_py(BYTES(119, 3, 'f', 'o', 'o'));
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_eq(Py_TYPE(a), erlmod_atom_type());
    ck_assert_str_eq(repr(a), "Atom('foo')");
    PyDict_SetItemString(globals, "a", a);
    PyObject *ok = py("a == 'foo' and hash(a) == hash('foo') and "
                      "isinstance(a, str) and {'foo': 1}[a] == 1 and "
                      "str(a) == 'foo' and type(str(a)) is str and "
                      "f'{a}' == 'foo' and a != 'bar' and a < 'fop'");
    ck_assert_ptr_eq(ok, Py_True);
    Py_DECREF(ok);
    Py_DECREF(a);
}
END_TEST

/* Erlang to Python: binaries */

START_TEST(test_convert_utf8_binary_to_str)
{
    decodes_to(BYTES(109, 0, 0, 0, 6, 'h', 195, 169, 'l', 'l', 'o'), "'h\\xe9llo'");
    decodes_to(BYTES(109, 0, 0, 0, 0), "''");
}
END_TEST

START_TEST(test_convert_invalid_utf8_binary_to_bytes)
{
    decodes_to(BYTES(109, 0, 0, 0, 2, 255, 0), "b'\\xff\\x00'");
    decodes_to(BYTES(109, 0, 0, 0, 2, 0xed, 0xa0), "b'\\xed\\xa0'");
}
END_TEST

START_TEST(test_convert_bytes_tuple_to_bytes)
{
    decodes_to(BYTES(104, 2, 119, 5, 'b', 'y', 't', 'e', 's', 109, 0, 0, 0, 3, 'a', 'b', 'c'),
               "b'abc'");
    decodes_to(BYTES(104, 2, 100, 0, 5, 'b', 'y', 't', 'e', 's', 109, 0, 0, 0, 0), "b''");
    /* not a binary second, or not a 2-tuple: an ordinary tuple */
    decodes_to(BYTES(104, 2, 119, 5, 'b', 'y', 't', 'e', 's', 97, 1), "(Atom('bytes'), 1)");
    decodes_to(BYTES(104, 1, 119, 5, 'b', 'y', 't', 'e', 's'), "(Atom('bytes'),)");
}
END_TEST

START_TEST(test_convert_whole_byte_bitstring_to_binary)
{
    /* BIT_BINARY_EXT with 8 bits in the last byte */
    decodes_to(BYTES(77, 0, 0, 0, 2, 8, 'h', 'i'), "'hi'");
}
END_TEST

/* Erlang to Python: containers */

START_TEST(test_convert_lists_to_list)
{
    decodes_to(BYTES(108, 0, 0, 0, 3, 97, 1, 109, 0, 0, 0, 1, 'a', 107, 0, 1, 2, 106),
               "[1, 'a', [2]]");
    decodes_to(BYTES(106), "[]");
}
END_TEST

START_TEST(test_convert_charlist_to_list_of_ints)
{
    decodes_to(BYTES(107, 0, 3, 'a', 'b', 'c'), "[97, 98, 99]");
    decodes_to(BYTES(107, 0, 2, 0, 255), "[0, 255]");
}
END_TEST

START_TEST(test_convert_chunked_list_to_list)
{
    /* [1 | [2]] as two LIST_EXT, and [1 | "ab"] */
    decodes_to(BYTES(108, 0, 0, 0, 1, 97, 1, 108, 0, 0, 0, 1, 97, 2, 106), "[1, 2]");
    decodes_to(BYTES(108, 0, 0, 0, 1, 97, 1, 107, 0, 2, 'a', 'b'), "[1, 97, 98]");
}
END_TEST

START_TEST(test_convert_tuples_to_tuple)
{
    decodes_to(BYTES(104, 2, 97, 1, 97, 2), "(1, 2)");
    decodes_to(BYTES(104, 0), "()");
    decodes_to(BYTES(105, 0, 0, 0, 1, 97, 7), "(7,)"); /* LARGE_TUPLE_EXT */
}
END_TEST

START_TEST(test_convert_maps_to_dict)
{
    decodes_to(BYTES(116, 0, 0, 0, 2, 119, 1, 'a', 97, 1, 109, 0, 0, 0, 1, 'b', 107, 0, 1, 2),
               "{Atom('a'): 1, 'b': [2]}");
    decodes_to(BYTES(116, 0, 0, 0, 0), "{}");
    /* #{{1, a} => x}: tuple keys are hashable */
    decodes_to(BYTES(116, 0, 0, 0, 1, 104, 2, 97, 1, 119, 1, 'a', 119, 1, 'x'),
               "{(1, Atom('a')): Atom('x')}");
}
END_TEST

START_TEST(test_convert_unhashable_map_key_fails)
{
    decode_fails(BYTES(116, 0, 0, 0, 1, 107, 0, 1, 1, 97, 2), "unhashable");
    decode_fails(BYTES(116, 0, 0, 0, 1, 116, 0, 0, 0, 0, 97, 2), "unhashable");
}
END_TEST

START_TEST(test_convert_map_keys_colliding_in_python_fail)
{
    /* #{1 => a, 1.0 => b} */
    decode_fails(
        BYTES(116, 0, 0, 0, 2, 97, 1, 119, 1, 'a', 70, 63, 240, 0, 0, 0, 0, 0, 0, 119, 1, 'b'),
        "same Python key");
    /* #{a => 1, <<"a">> => 2} */
    decode_fails(BYTES(116, 0, 0, 0, 2, 119, 1, 'a', 97, 1, 109, 0, 0, 0, 1, 'a', 97, 2),
                 "same Python key");
}
END_TEST

/* Erlang to Python: pids and references */

START_TEST(test_convert_pid_round_trips)
{
    PyObject *p = to_py(ARRAY(t_pid));
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_eq(Py_TYPE(p), erlmod_pid_type());
    ck_assert_str_eq(repr(p), "<erlang.Pid nonode@nohost 9.0>");
    Py_DECREF(p);
    round_trips(ARRAY(t_pid));
    round_trips(ARRAY(t_pid_latin1));
    round_trips(ARRAY(t_pid2));
}
END_TEST

START_TEST(test_convert_ref_round_trips)
{
    PyObject *r = to_py(ARRAY(t_ref));
    ck_assert_ptr_nonnull(r);
    ck_assert_ptr_eq(Py_TYPE(r), erlmod_ref_type());
    ck_assert_str_eq(repr(r), "<erlang.Ref nonode@nohost 3022238115.4286840833.72939>");
    Py_DECREF(r);
    round_trips(ARRAY(t_ref));
    round_trips(ARRAY(t_ref_latin1));
    /* NEW_REFERENCE_EXT ('r', creation 1 byte) and REFERENCE_EXT ('e') */
    round_trips(BYTES(114, 0, 1, 100, 0, 1, 'n', 2, 0, 0, 0, 7));
    round_trips(BYTES(101, 100, 0, 1, 'n', 0, 0, 0, 7, 2));
}
END_TEST

START_TEST(test_convert_pids_hash_and_order_by_bytes)
{
    PyObject *a = to_py(ARRAY(t_pid)), *a2 = to_py(ARRAY(t_pid));
    PyObject *b = to_py(ARRAY(t_pid2)), *r = to_py(ARRAY(t_ref));
    PyDict_SetItemString(globals, "a", a);
    PyDict_SetItemString(globals, "a2", a2);
    PyDict_SetItemString(globals, "b", b);
    PyDict_SetItemString(globals, "r", r);
    PyObject *ok = py("a == a2 and a is not a2 and hash(a) == hash(a2) and "
                      "a != b and a < b and b > a and sorted([b, a]) == [a, b] "
                      "and len({a, a2, b}) == 2 and a != r and not a == r");
    ck_assert_ptr_eq(ok, Py_True);
    Py_DECREF(ok);
    run("import copy\nassert copy.deepcopy([a])[0] is a\n"
        "try:\n    a < r\nexcept TypeError:\n    pass\n"
        "else:\n    raise AssertionError('Pid < Ref ordered')\n");
    Py_DECREF(a);
    Py_DECREF(a2);
    Py_DECREF(b);
    Py_DECREF(r);
}
END_TEST

START_TEST(test_convert_pid_and_ref_cannot_be_made_in_python)
{
    run("for t in (erlang.Pid, erlang.Ref):\n"
        "    for args in ((), (b'X',), (b'garbage', 1)):\n"
        "        try:\n            t(*args)\n"
        "        except TypeError:\n            pass\n"
        "        else:\n            raise AssertionError(t)\n"
        "    try:\n        type('Sub', (t,), {})\n"
        "    except TypeError:\n        pass\n"
        "    else:\n        raise AssertionError('subclassed')\n");
}
END_TEST

/* Erlang to Python: terms with no mapping */

START_TEST(test_convert_improper_list_fails)
{
    decode_fails(BYTES(108, 0, 0, 0, 1, 97, 1, 97, 2),
                 "cannot convert an Erlang improper list to Python");
}
END_TEST

/* Found by fuzz_convert (tests/fuzz): a reference term whose Nonce or Id
 * no C integer holds named no object of this port, yet raised
 * OverflowError instead of erlang.StaleReference. */
START_TEST(test_convert_fuzz_py_ref_out_of_range_is_stale)
{
    PyObject *stale = PyObject_GetAttrString(PyImport_AddModule("erlang"), "StaleReference");
    ck_assert_ptr_nonnull(stale);
    /* {'$py_ref', -1, 1}, {'$py_ref', 1, 1 bsl 64} */
    PyObject *v = to_py(
        BYTES(104, 3, 119, 7, '$', 'p', 'y', '_', 'r', 'e', 'f', 98, 255, 255, 255, 255, 97, 1));
    ck_assert_ptr_null(v);
    assert_error(stale, "stale reference");
    v = to_py(BYTES(104, 3, 119, 7, '$', 'p', 'y', '_', 'r', 'e', 'f', 97, 1, 110, 9, 0, 0, 0, 0, 0,
                    0, 0, 0, 0, 1));
    ck_assert_ptr_null(v);
    assert_error(stale, "stale reference");
    Py_DECREF(stale);
}
END_TEST

START_TEST(test_convert_fun_fails)
{
    decode_fails(ARRAY(t_fun), "cannot convert an Erlang fun to Python");
    /* fun lists:map/2 (EXPORT_EXT); FUN_EXT ('u') is refused by its tag */
    decode_fails(BYTES(113, 119, 5, 'l', 'i', 's', 't', 's', 119, 3, 'm', 'a', 'p', 97, 2),
                 "cannot convert an Erlang fun to Python");
    decode_fails(BYTES(117, 0, 0, 0, 0), "Erlang fun");
}
END_TEST

START_TEST(test_convert_port_fails)
{
    decode_fails(ARRAY(t_port), "cannot convert an Erlang port to Python");
    /* PORT_EXT ('f') and V4_PORT_EXT ('x'), node 'n' */
    decode_fails(BYTES(102, 100, 0, 1, 'n', 0, 0, 0, 1, 0), "Erlang port");
    decode_fails(BYTES(120, 100, 0, 1, 'n', 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0), "Erlang port");
}
END_TEST

START_TEST(test_convert_bitstring_fails)
{
    decode_fails(BYTES(77, 0, 0, 0, 1, 3, 32), "cannot convert an Erlang bitstring to Python");
    decode_fails(BYTES(108, 0, 0, 0, 1, 77, 0, 0, 0, 1, 3, 32, 106), "Erlang bitstring");
}
END_TEST

/* Erlang to Python: limits and bad input */

START_TEST(test_convert_depth_limit_to_py)
{
    size_t n;
    unsigned char *b = nested_lists(CONVERT_MAX_DEPTH, &n);
    PyObject *v = to_py(b, n);
    ck_assert_ptr_nonnull(v);
    Py_DECREF(v);
    free(b);
    b = nested_lists(CONVERT_MAX_DEPTH + 1, &n);
    decode_fails(b, n, "nested deeper than 10000");
    free(b);
}
END_TEST

/* Tuples, maps and charlists count as levels as lists do. */
START_TEST(test_convert_depth_limit_counts_every_container)
{
    static const struct {
        const char *bytes;
        size_t n;
    } leaves[] = {{"h\1a\1", 4}, {"t\0\0\0\0", 5}, {"k\0\1a", 4}};
    for (int i = 0; i < 3; i++) {
        size_t n;
        unsigned char *b = nested(CONVERT_MAX_DEPTH - 1, leaves[i].bytes, leaves[i].n, &n);
        PyObject *v = to_py(b, n);
        ck_assert_ptr_nonnull(v);
        Py_DECREF(v);
        free(b);
        b = nested(CONVERT_MAX_DEPTH, leaves[i].bytes, leaves[i].n, &n);
        decode_fails(b, n, "nested deeper than 10000");
        free(b);
    }
}
END_TEST

START_TEST(test_convert_million_deep_list_fails)
{
    size_t n;
    unsigned char *b = nested_lists(1000000, &n);
    decode_fails(b, n, "nested deeper than 10000");
    free(b);
}
END_TEST

START_TEST(test_convert_malformed_terms_fail)
{
    decode_fails(BYTES(42), "malformed term");                      /* no such tag */
    decode_fails(BYTES(109, 255, 255, 255, 255), "malformed term"); /* len -1 */
    decode_fails(BYTES(109, 127, 255, 255, 255), "malformed term"); /* > int */
    decode_fails(BYTES(108, 127, 255, 255, 255), "malformed term");
    decode_fails(BYTES(108, 255, 255, 255, 255), "malformed term");
    decode_fails(BYTES(105, 127, 255, 255, 255), "malformed term");
    decode_fails(BYTES(116, 127, 255, 255, 255), "malformed term");
    decode_fails(BYTES(111, 127, 255, 255, 255, 0), "malformed term");
    decode_fails(BYTES(110, 1, 2, 1), "malformed term");       /* sign 2 */
    decode_fails(BYTES(119, 2, 0xc3, 0x28), "malformed term"); /* bad UTF-8 */
    decode_fails(BYTES(88, 97, 1, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0),
                 "malformed term");                              /* pid whose node is not an atom */
    decode_fails(BYTES(77, 0, 0, 0, 1, 9, 0), "malformed term"); /* 9 bits */
}
END_TEST

START_TEST(test_convert_index_moves_past_one_term)
{
    /* two terms back to back: 1, then foo */
    const unsigned char b[] = {97, 1, 119, 3, 'f', 'o', 'o'};
    int i = 0;
    PyObject *v = convert_term_to_py((const char *)b, sizeof b, &i);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(i, 2);
    Py_DECREF(v);
    v = convert_term_to_py((const char *)b, sizeof b, &i);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(i, 7);
    Py_DECREF(v);
}
END_TEST

/* A term's bytes and length, for tables of terms. */
struct term {
    const unsigned char *b;
    size_t n;
};

START_TEST(test_convert_truncated_terms_fail)
{
    size_t big_n;
    unsigned char *big = large_big(0, &big_n);
    unsigned char float_text[32] = {'c'}; /* 1.5 as FLOAT_EXT */
    memcpy(float_text + 1, "1.50000000000000000000e+00", 26);
    const struct term terms[] = {
        {BYTES(109, 0, 0, 0, 3, 'a', 'b', 'c')}, /* <<"abc">> */
        {BYTES(77, 0, 0, 0, 2, 8, 'h', 'i')},    /* BIT_BINARY_EXT */
        {BYTES(108, 0, 0, 0, 2, 109, 0, 0, 0, 1, 'a', 109, 0, 0, 0, 2, 'b', 'c',
               106)},                                         /* [<<"a">>, <<"bc">>] */
        {BYTES(108, 0, 0, 0, 1, 97, 1, 107, 0, 2, 'a', 'b')}, /* [1 | "ab"] */
        /* #{a => 1, <<"b">> => "xy"} */
        {BYTES(116, 0, 0, 0, 2, 119, 1, 'a', 97, 1, 109, 0, 0, 0, 1, 'b', 107, 0, 2, 'x', 'y')},
        /* 2**100, 2**2100 */
        {BYTES(110, 13, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16)},
        {big, big_n},
        /* {1, {{1.5}, {bytes, <<"z">>}}, 2**64} */
        {BYTES(104, 3, 97, 1, 104, 2, 104, 1, 70, 63, 248, 0, 0, 0, 0, 0, 0, 104, 2, 119, 5, 'b',
               'y', 't', 'e', 's', 109, 0, 0, 0, 1, 'z', 110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)},
        {BYTES(105, 0, 0, 0, 1, 97, 7)}, /* LARGE_TUPLE_EXT {7} */
        /* [1.5, -0.25] */
        {BYTES(108, 0, 0, 0, 2, 70, 63, 248, 0, 0, 0, 0, 0, 0, 70, 191, 208, 0, 0, 0, 0, 0, 0,
               106)},
        {BYTES(100, 0, 2, 'f', 233)}, /* Latin-1 ATOM_EXT */
        {ARRAY(float_text)},
        {ARRAY(t_pid)},
        {ARRAY(t_ref)},
        {BYTES(101, 100, 0, 1, 'n', 0, 0, 0, 7, 2)}, /* REFERENCE_EXT */
    };
    for (size_t t = 0; t < sizeof terms / sizeof *terms; t++)
        prefixes_fail(convert_term_to_py, terms[t].b, terms[t].n);
    free(big);
}
END_TEST

START_TEST(test_convert_truncated_kwargs_fail)
{
    prefixes_fail(convert_term_to_kwargs,
                  BYTES(116, 0, 0, 0, 2, 119, 1, 'a', 97, 1, 109, 0, 0, 0, 2, 'b', 'c', 108, 0, 0,
                        0, 1, 109, 0, 0, 0, 1, 'd', 106));
}
END_TEST

/* FLOAT_EXT text with no NUL in its 31 bytes, at the very end of the
 * buffer: ei's sscanf must not go on reading past it. */
START_TEST(test_convert_float_text_ends_at_31_bytes)
{
    unsigned char b[32] = {'c'};
    memcpy(b + 1, "1.25000000000000000000000000000", 31);
    struct exact e;
    exact_new(&e, ARRAY(b));
    int i = 0;
    PyObject *v = convert_term_to_py(e.guarded, sizeof b, &i);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(i, 32);
    ck_assert_double_eq(PyFloat_AsDouble(v), 1.25);
    Py_DECREF(v);
    exact_free(&e);
}
END_TEST

/* Bytes at and past len are not part of the term even when they are
 * there; a bad len or index is a malformed term. */
START_TEST(test_convert_len_bounds_the_term)
{
    const unsigned char b[] = {97, 1, 119, 3, 'f', 'o', 'o'};
    const char *p = (const char *)b;
    /* {len, index}: foo cut short by len, then no term at the index */
    const int bad[][2] = {{6, 2}, {2, 2}, {0, 0}, {-1, 0}, {7, -1}, {7, 8}};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        int i = bad[k][1];
        ck_assert_ptr_null(convert_term_to_py(p, bad[k][0], &i));
        ck_assert_int_eq(i, bad[k][1]);
        assert_error(PyExc_TypeError, "malformed term");
        if (k == 0)
            continue; /* a map is looked for, and an atom tag found */
        ck_assert_ptr_null(convert_term_to_kwargs(p, bad[k][0], &i));
        ck_assert_int_eq(i, bad[k][1]);
        assert_error(PyExc_TypeError, "malformed term");
    }
    int i = 2;
    PyObject *v = convert_term_to_py(p, 7, &i);
    ck_assert_str_eq(repr(v), "Atom('foo')");
    ck_assert_int_eq(i, 7);
    Py_DECREF(v);
}
END_TEST

/* Keyword arguments */

static void kwargs_fail(const unsigned char *b, size_t n, const char *text)
{
    int i = 0;
    ck_assert_ptr_null(convert_term_to_kwargs((const char *)b, (int)n, &i));
    ck_assert_int_eq(i, 0);
    assert_error(PyExc_TypeError, text);
}

START_TEST(test_convert_kwargs_from_atom_and_binary_keys)
{
    const unsigned char b[] = {116, 0, 0, 0, 2,   119, 1, 'a', 97,  1,  109,
                               0,   0, 0, 1, 'b', 119, 3, 'f', 'o', 'o'};
    int i = 0;
    PyObject *d = convert_term_to_kwargs((const char *)b, sizeof b, &i);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(i, (int)sizeof b);
    ck_assert_str_eq(repr(d), "{'a': 1, 'b': Atom('foo')}");
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    while (PyDict_Next(d, &pos, &k, &v))
        ck_assert(PyUnicode_CheckExact(k));
    Py_DECREF(d);
}
END_TEST

START_TEST(test_convert_kwargs_reject_other_terms)
{
    const char *msg = "keyword arguments must be a map with atom or binary "
                      "keys";
    kwargs_fail(BYTES(116, 0, 0, 0, 1, 97, 1, 97, 2), msg);
    kwargs_fail(BYTES(116, 0, 0, 0, 1, 109, 0, 0, 0, 1, 255, 97, 1), msg);
    kwargs_fail(BYTES(106), msg);
    kwargs_fail(BYTES(108, 0, 0, 0, 1, 97, 1, 106), msg);
    kwargs_fail(BYTES(116, 0, 0, 0, 2, 119, 1, 'a', 97, 1, 109, 0, 0, 0, 1, 'a', 97, 2),
                "same Python key");
}
END_TEST

/* Python to Erlang: numbers */

START_TEST(test_convert_ints_to_integers)
{
    encodes_to("0", BYTES(97, 0));
    encodes_to("255", BYTES(97, 255));
    encodes_to("256", BYTES(98, 0, 0, 1, 0));
    encodes_to("-1", BYTES(98, 255, 255, 255, 255));
    encodes_to("2**31 - 1", BYTES(98, 127, 255, 255, 255));
    encodes_to("-2**31", BYTES(98, 128, 0, 0, 0));
    encodes_to("2**31", BYTES(110, 4, 0, 0, 0, 0, 128));
    encodes_to("-2**31 - 1", BYTES(110, 4, 1, 1, 0, 0, 128));
    encodes_to("2**63 - 1", BYTES(110, 8, 0, 255, 255, 255, 255, 255, 255, 255, 127));
    encodes_to("-2**63", BYTES(110, 8, 1, 0, 0, 0, 0, 0, 0, 0, 128));
    encodes_to("2**64 - 1", BYTES(110, 8, 0, 255, 255, 255, 255, 255, 255, 255, 255));
    encodes_to("2**64", BYTES(110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1));
}
END_TEST

START_TEST(test_convert_big_ints_to_bignums)
{
    encodes_to("2**100", BYTES(110, 13, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16));
    encodes_to("-(2**100)", BYTES(110, 13, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16));
    size_t n;
    unsigned char *b = large_big(0, &n);
    encodes_to("2**2100", b, n);
    round_trips(b, n);
    free(b);
    b = large_big(1, &n);
    encodes_to("-(2**2100)", b, n);
    free(b);
    /* 255 digit bytes is the largest SMALL_BIG_EXT */
    PyObject *v = py("2**2040 - 1");
    ei_x_buff x;
    ei_x_new(&x);
    ck_assert_int_eq(convert_py_to_term(v, &x), 0);
    ck_assert_int_eq(x.index, 3 + 255);
    ck_assert_int_eq((unsigned char)x.buff[0], 110);
    ei_x_free(&x);
    Py_DECREF(v);
}
END_TEST

START_TEST(test_convert_int_beyond_erlang_bignums_fails)
{
    /* binary_to_term takes at most 4194296 digit bytes (OTP 25) */
    PyObject *v = py("-(2**(8 * 4194296) - 1)");
    ei_x_buff x;
    ei_x_new(&x);
    ck_assert_int_eq(convert_py_to_term(v, &x), 0);
    ck_assert_int_eq(x.index, 6 + 4194296);
    ck_assert_int_eq((unsigned char)x.buff[0], 111);
    ck_assert_int_eq((unsigned char)x.buff[5], 1);
    ei_x_free(&x);
    Py_DECREF(v);
    encode_fails("2**(8 * 4194296)", "integer too large for Erlang");
}
END_TEST

START_TEST(test_convert_floats_to_floats)
{
    encodes_to("1.5", BYTES(70, 63, 248, 0, 0, 0, 0, 0, 0));
    encodes_to("-0.25", BYTES(70, 191, 208, 0, 0, 0, 0, 0, 0));
}
END_TEST

START_TEST(test_convert_nan_and_infinities_to_atoms)
{
    encodes_to("math.nan", BYTES(119, 3, 'n', 'a', 'n'));
    encodes_to("math.inf", BYTES(119, 8, 'i', 'n', 'f', 'i', 'n', 'i', 't', 'y'));
    encodes_to("-math.inf",
               BYTES(119, 12, 'n', 'e', 'g', '_', 'i', 'n', 'f', 'i', 'n', 'i', 't', 'y'));
}
END_TEST

START_TEST(test_convert_bool_and_none_to_atoms)
{
    encodes_to("True", BYTES(119, 4, 't', 'r', 'u', 'e'));
    encodes_to("False", BYTES(119, 5, 'f', 'a', 'l', 's', 'e'));
    encodes_to("None", BYTES(119, 4, 'n', 'o', 'n', 'e'));
    encodes_to("[True, 1]", BYTES(108, 0, 0, 0, 2, 119, 4, 't', 'r', 'u', 'e', 97, 1, 106));
}
END_TEST

/* Python to Erlang: text and bytes */

START_TEST(test_convert_str_to_utf8_binary)
{
    encodes_to("'h\\xe9llo'", BYTES(109, 0, 0, 0, 6, 'h', 195, 169, 'l', 'l', 'o'));
    encodes_to("''", BYTES(109, 0, 0, 0, 0));
    encodes_to("'\\u2603'", BYTES(109, 0, 0, 0, 3, 226, 152, 131));
}
END_TEST

START_TEST(test_convert_lone_surrogate_fails)
{
    encode_fails("'a\\ud800'", "lone surrogate");
    encode_fails("['ok', '\\udfff']", "lone surrogate");
}
END_TEST

START_TEST(test_convert_bytes_like_to_binary)
{
    encodes_to("b'\\x00\\xff'", BYTES(109, 0, 0, 0, 2, 0, 255));
    encodes_to("bytearray(b'ab')", BYTES(109, 0, 0, 0, 2, 'a', 'b'));
    encodes_to("memoryview(b'xabc')[1:]", BYTES(109, 0, 0, 0, 3, 'a', 'b', 'c'));
    encodes_to("b''", BYTES(109, 0, 0, 0, 0));
    encode_fails("memoryview(b'abcd')[::2]", "non-contiguous");
}
END_TEST

START_TEST(test_convert_atoms_to_atoms)
{
    /* names that came from Erlang, so the cap is not touched */
    decodes_to(BYTES(119, 3, 'f', 'o', 'o'), "Atom('foo')");
    decodes_to(BYTES(119, 2, 195, 169), "Atom('\\xe9')");
    encodes_to("Atom('foo')", BYTES(119, 3, 'f', 'o', 'o'));
    encodes_to("Atom('\\xe9')", BYTES(119, 2, 195, 169));
    encodes_to("Atom('true')", BYTES(119, 4, 't', 'r', 'u', 'e'));
    round_trips(BYTES(119, 3, 226, 152, 131));
}
END_TEST

START_TEST(test_convert_atom_length_limit)
{
    /* 255 characters of é: ATOM_UTF8_EXT of 510 bytes, from Erlang */
    unsigned char b[3 + 510] = {118, 1, 254};
    for (int i = 0; i < 255; i++)
        memcpy(b + 3 + 2 * i, "\xc3\xa9", 2);
    round_trips(ARRAY(b));
    encode_fails("Atom('x' * 256)", "atom name longer than 255 characters");
    encode_fails("Atom('\\xe9' * 256)", "longer than 255");
}
END_TEST

START_TEST(test_convert_atom_cap)
{
    char name[32];
    ei_x_buff x;
    ei_x_new(&x);
    for (int i = 0; i < ERLMOD_MAX_NEW_ATOMS; i++) {
        snprintf(name, sizeof name, "Atom('cap_%d')", i);
        PyObject *a = py(name);
        ck_assert_int_eq(convert_py_to_term(a, &x), 0);
        Py_DECREF(a);
    }
    PyObject *a = py("Atom('one_too_many')");
    obj_encode_fails(a, PyExc_TypeError, "atom cap of 10000 new atoms reached");
    Py_DECREF(a);
    encode_fails("[1, Atom('another')]", "atom cap of 10000");
    /* already admitted, or arrived from Erlang: still free */
    encodes_to("Atom('cap_0')", BYTES(119, 5, 'c', 'a', 'p', '_', '0'));
    decodes_to(BYTES(119, 3, 'n', 'e', 'w'), "Atom('new')");
    encodes_to("Atom('new')", BYTES(119, 3, 'n', 'e', 'w'));
    encodes_to("Atom('nan')", BYTES(119, 3, 'n', 'a', 'n'));
    /* an atom key of keyword arguments arrived from Erlang as well */
    const unsigned char kw[] = {116, 0, 0, 0, 1, 119, 2, 'k', 'w', 97, 1};
    int i = 0;
    PyObject *d = convert_term_to_kwargs((const char *)kw, sizeof kw, &i);
    ck_assert_ptr_nonnull(d);
    Py_DECREF(d);
    encodes_to("Atom('kw')", BYTES(119, 2, 'k', 'w'));
    ei_x_free(&x);
}
END_TEST

/* Python to Erlang: containers */

START_TEST(test_convert_lists_and_tuples)
{
    encodes_to("[1, 'a']", BYTES(108, 0, 0, 0, 2, 97, 1, 109, 0, 0, 0, 1, 'a', 106));
    encodes_to("[]", BYTES(106));
    encodes_to("(1, 'a')", BYTES(104, 2, 97, 1, 109, 0, 0, 0, 1, 'a'));
    encodes_to("()", BYTES(104, 0));
    encodes_to("[[]]", BYTES(108, 0, 0, 0, 1, 106, 106));
    round_trips(BYTES(108, 0, 0, 0, 3, 97, 1, 109, 0, 0, 0, 1, 'a', 104, 1, 106, 106));
}
END_TEST

START_TEST(test_convert_dicts_to_maps)
{
    encodes_to("{'a': 1}", BYTES(116, 0, 0, 0, 1, 109, 0, 0, 0, 1, 'a', 97, 1));
    encodes_to("{}", BYTES(116, 0, 0, 0, 0));
    encodes_to("{1: {2: None}}",
               BYTES(116, 0, 0, 0, 1, 97, 1, 116, 0, 0, 0, 1, 97, 2, 119, 4, 'n', 'o', 'n', 'e'));
    /* bytes and tuple keys that do not collide */
    encodes_to("{b'a': 1, ('b',): 2}", BYTES(116, 0, 0, 0, 2, 109, 0, 0, 0, 1, 'a', 97, 1, 104, 1,
                                             109, 0, 0, 0, 1, 'b', 97, 2));
}
END_TEST

START_TEST(test_convert_dict_keys_colliding_in_erlang_fail)
{
    encode_fails("{'a': 1, b'a': 2}", "convert to the same Erlang term");
    encode_fails("{True: 1, Atom('true'): 2}", "same Erlang term");
    encode_fails("{float('nan'): 1, float('nan'): 2}", "same Erlang term");
    encode_fails("{('a',): 1, (b'a',): 2}", "same Erlang term");
}
END_TEST

START_TEST(test_convert_sets_to_lists)
{
    encodes_to("{1}", BYTES(108, 0, 0, 0, 1, 97, 1, 106));
    encodes_to("frozenset()", BYTES(106));
    PyObject *v = py("{1, 2, 3}");
    ei_x_buff x;
    ei_x_new(&x);
    ck_assert_int_eq(convert_py_to_term(v, &x), 0);
    int i = 0;
    PyObject *back = convert_term_to_py(x.buff, x.index, &i);
    ck_assert_str_eq(repr(back), "[1, 2, 3]");
    Py_DECREF(back);
    Py_DECREF(v);
    ei_x_free(&x);
}
END_TEST

START_TEST(test_convert_subclasses_like_their_base)
{
    run("class L(list): pass\nclass T(tuple): pass\nclass D(dict): pass\n"
        "class S(str):\n    def __str__(self): return 'other'\n"
        "class I(int): pass\nclass F(float): pass\n"
        "class B(bytes): pass\nclass FS(frozenset): pass\n"
        "class HS(str):\n    def __hash__(self): return 1\n");
    encodes_to("L([1])", BYTES(108, 0, 0, 0, 1, 97, 1, 106));
    encodes_to("T((1,))", BYTES(104, 1, 97, 1));
    encodes_to("D(a=1)", BYTES(116, 0, 0, 0, 1, 109, 0, 0, 0, 1, 'a', 97, 1));
    encodes_to("S('a')", BYTES(109, 0, 0, 0, 1, 'a'));
    encodes_to("I(7)", BYTES(97, 7));
    encodes_to("I(2**64)", BYTES(110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1));
    encodes_to("F(1.5)", BYTES(70, 63, 248, 0, 0, 0, 0, 0, 0));
    encodes_to("B(b'a')", BYTES(109, 0, 0, 0, 1, 'a'));
    encodes_to("FS([1])", BYTES(108, 0, 0, 0, 1, 97, 1, 106));
    encode_fails("{HS('a'): 1, 'a': 2}", "same Erlang term");
}
END_TEST

/* With references off (an argument of erlang.call or erlang.send): the
 * `erlang` module's import sets up the table, which would store them. */
START_TEST(test_convert_unsupported_types_fail)
{
    int was = objref_enable(0);
    encode_fails("object()", "cannot convert Python object of type 'object' "
                             "to an Erlang term");
    encode_fails("1j", "type 'complex'");
    encode_fails("[1, {2: len}]", "type 'builtin_function_or_method'");
    objref_enable(was);
}
END_TEST

START_TEST(test_convert_pid_and_ref_to_their_bytes)
{
    round_trips(ARRAY(t_pid));
    round_trips(ARRAY(t_ref));
    PyObject *p = to_py(ARRAY(t_pid));
    PyObject *t = Py_BuildValue("(O)", p);
    unsigned char want[2 + sizeof t_pid] = {104, 1};
    memcpy(want + 2, t_pid, sizeof t_pid);
    obj_encodes_to(t, ARRAY(want));
    Py_DECREF(t);
    Py_DECREF(p);
}
END_TEST

/* Python to Erlang: limits */

START_TEST(test_convert_depth_limit_to_term)
{
    PyObject *ok = nested_py_lists(CONVERT_MAX_DEPTH);
    ei_x_buff x;
    ei_x_new(&x);
    ck_assert_int_eq(convert_py_to_term(ok, &x), 0);
    size_t n;
    unsigned char *b = nested_lists(CONVERT_MAX_DEPTH, &n);
    assert_bytes(&x, b, n);
    free(b);
    ei_x_free(&x);
    Py_DECREF(ok);
    PyObject *deep = nested_py_lists(CONVERT_MAX_DEPTH + 1);
    obj_encode_fails(deep, PyExc_TypeError, "nested deeper than 10000");
    Py_DECREF(deep);
    deep = nested_py_lists(1000000);
    obj_encode_fails(deep, PyExc_TypeError, "nested deeper than 10000");
    Py_DECREF(deep);
    run("loop = []\nloop.append(loop)\nd = {}\nd[1] = d\n");
    encode_fails("loop", "nested deeper");
    encode_fails("d", "nested deeper");
}
END_TEST

START_TEST(test_convert_appends_after_existing_bytes)
{
    ei_x_buff x;
    ei_x_new_with_version(&x);
    PyObject *v = py("'a'");
    ck_assert_int_eq(convert_py_to_term(v, &x), 0);
    const unsigned char want[] = {131, 109, 0, 0, 0, 1, 'a'};
    assert_bytes(&x, ARRAY(want));
    Py_DECREF(v);
    ei_x_free(&x);
}
END_TEST

/* A term that would take the buffer's index past what ei's int holds is
 * refused before the buffer grows: TypeError, nothing written. */
START_TEST(test_convert_term_past_the_int_index_fails)
{
    ei_x_buff x;
    ck_assert_int_eq(ei_x_new(&x), 0);
    int size = x.buffsz;
    x.index = INT_MAX - 4096 - 100; /* as if 2 GB were written already */
    PyObject *v = py("1.5");
    ck_assert_int_eq(convert_py_to_term(v, &x), -1);
    assert_error(PyExc_TypeError, "object too large to convert to an Erlang term");
    ck_assert_int_eq(x.index, INT_MAX - 4096 - 100);
    ck_assert_int_eq(x.buffsz, size);
    Py_DECREF(v);
    ei_x_free(&x);
}
END_TEST

static Suite *convert_suite(void)
{
    Suite *s = suite_create("convert");
    TCase *to_py_case = tcase_create("erlang_to_python");
    TCase *to_term_case = tcase_create("python_to_erlang");
    TCase *cases[] = {to_py_case, to_term_case};
    for (int i = 0; i < 2; i++) {
        tcase_add_checked_fixture(cases[i], start_python, NULL);
        tcase_set_timeout(cases[i], 30);
        suite_add_tcase(s, cases[i]);
    }
    TCase *c = to_py_case;
    tcase_add_test(c, test_convert_small_integers_to_int);
    tcase_add_test(c, test_convert_bignums_to_int);
    tcase_add_test(c, test_convert_large_bignums_to_int);
    tcase_add_test(c, test_convert_floats_to_float);
    tcase_add_test(c, test_convert_true_false_to_bool);
    tcase_add_test(c, test_convert_none_nil_undefined_to_none);
    tcase_add_test(c, test_convert_atoms_to_atom);
    tcase_add_test(c, test_convert_atom_behaves_as_str);
    tcase_add_test(c, test_convert_utf8_binary_to_str);
    tcase_add_test(c, test_convert_invalid_utf8_binary_to_bytes);
    tcase_add_test(c, test_convert_bytes_tuple_to_bytes);
    tcase_add_test(c, test_convert_whole_byte_bitstring_to_binary);
    tcase_add_test(c, test_convert_lists_to_list);
    tcase_add_test(c, test_convert_charlist_to_list_of_ints);
    tcase_add_test(c, test_convert_chunked_list_to_list);
    tcase_add_test(c, test_convert_tuples_to_tuple);
    tcase_add_test(c, test_convert_maps_to_dict);
    tcase_add_test(c, test_convert_unhashable_map_key_fails);
    tcase_add_test(c, test_convert_map_keys_colliding_in_python_fail);
    tcase_add_test(c, test_convert_pid_round_trips);
    tcase_add_test(c, test_convert_ref_round_trips);
    tcase_add_test(c, test_convert_pids_hash_and_order_by_bytes);
    tcase_add_test(c, test_convert_pid_and_ref_cannot_be_made_in_python);
    tcase_add_test(c, test_convert_improper_list_fails);
    tcase_add_test(c, test_convert_fuzz_py_ref_out_of_range_is_stale);
    tcase_add_test(c, test_convert_fun_fails);
    tcase_add_test(c, test_convert_port_fails);
    tcase_add_test(c, test_convert_bitstring_fails);
    tcase_add_test(c, test_convert_depth_limit_to_py);
    tcase_add_test(c, test_convert_depth_limit_counts_every_container);
    tcase_add_test(c, test_convert_million_deep_list_fails);
    tcase_add_test(c, test_convert_malformed_terms_fail);
    tcase_add_test(c, test_convert_index_moves_past_one_term);
    tcase_add_test(c, test_convert_truncated_terms_fail);
    tcase_add_test(c, test_convert_truncated_kwargs_fail);
    tcase_add_test(c, test_convert_float_text_ends_at_31_bytes);
    tcase_add_test(c, test_convert_len_bounds_the_term);
    tcase_add_test(c, test_convert_kwargs_from_atom_and_binary_keys);
    tcase_add_test(c, test_convert_kwargs_reject_other_terms);
    c = to_term_case;
    tcase_add_test(c, test_convert_ints_to_integers);
    tcase_add_test(c, test_convert_big_ints_to_bignums);
    tcase_add_test(c, test_convert_int_beyond_erlang_bignums_fails);
    tcase_add_test(c, test_convert_floats_to_floats);
    tcase_add_test(c, test_convert_nan_and_infinities_to_atoms);
    tcase_add_test(c, test_convert_bool_and_none_to_atoms);
    tcase_add_test(c, test_convert_str_to_utf8_binary);
    tcase_add_test(c, test_convert_lone_surrogate_fails);
    tcase_add_test(c, test_convert_bytes_like_to_binary);
    tcase_add_test(c, test_convert_atoms_to_atoms);
    tcase_add_test(c, test_convert_atom_length_limit);
    tcase_add_test(c, test_convert_atom_cap);
    tcase_add_test(c, test_convert_lists_and_tuples);
    tcase_add_test(c, test_convert_dicts_to_maps);
    tcase_add_test(c, test_convert_dict_keys_colliding_in_erlang_fail);
    tcase_add_test(c, test_convert_sets_to_lists);
    tcase_add_test(c, test_convert_subclasses_like_their_base);
    tcase_add_test(c, test_convert_unsupported_types_fail);
    tcase_add_test(c, test_convert_pid_and_ref_to_their_bytes);
    tcase_add_test(c, test_convert_depth_limit_to_term);
    tcase_add_test(c, test_convert_appends_after_existing_bytes);
    tcase_add_test(c, test_convert_term_past_the_int_index_fails);
    return s;
}

int main(void)
{
    return check_run(convert_suite());
}
