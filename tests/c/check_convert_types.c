/*
 * check_convert_types: convert_types.c (the standard library's and
 * numpy's types, erlang.register_encoder) and the None atom, against the
 * tables of docs/types.md.
 *
 * Each value is encoded, then decoded back and compared by its repr: the
 * atoms of the tagged tuples come back as erlang.Atom, the None atom as
 * None. Python starts in a checked fixture: every test gets a fresh
 * interpreter (default fork mode), so an encoder registered by one test
 * is not seen by the next.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <check.h>
#include <ei.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "check_python.h"
#include "convert.h"
#include "erlmod.h"
#include "objref.h"

/* __main__ with erlang, Atom, datetime and the other types imported. */
static void start_python(void)
{
    check_python_start("import erlang, datetime as dt, decimal, uuid, enum\n"
                       "from erlang import Atom\n");
}

/* Encodes the value of expr into x (a new buffer); the rc of the encoding. */
static int encode(const char *expr, ei_x_buff *x)
{
    PyObject *v = PyRun_String(expr, Py_eval_input, globals, globals);
    if (v == NULL)
        PyErr_Print();
    ck_assert_msg(v != NULL, "Python expression failed: %s", expr);
    ei_x_new(x);
    int rc = convert_py_to_term(v, x);
    Py_DECREF(v);
    return rc;
}

/* expr encodes to a term that decodes back to a value whose repr is want. */
static void encodes_as(const char *expr, const char *want)
{
    ei_x_buff x;
    if (encode(expr, &x) != 0)
        PyErr_Print();
    int i = 0;
    PyObject *back = convert_term_to_py(x.buff, x.index, &i);
    ck_assert_ptr_nonnull(back);
    PyObject *r = PyObject_Repr(back);
    ck_assert_str_eq(PyUnicode_AsUTF8(r), want);
    Py_DECREF(r);
    Py_DECREF(back);
    ei_x_free(&x);
}

/* expr fails to encode with exc, whose message contains text. */
static void encode_fails(const char *expr, PyObject *exc, const char *text)
{
    ei_x_buff x;
    ck_assert_int_eq(encode(expr, &x), -1);
    ck_assert(PyErr_ExceptionMatches(exc));
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *s = PyObject_Str(value);
    ck_assert_msg(strstr(PyUnicode_AsUTF8(s), text), "%s", PyUnicode_AsUTF8(s));
    Py_XDECREF(s);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    ei_x_free(&x);
}

START_TEST(test_convert_types_datetime_family)
{
    encodes_as("dt.datetime(2024, 2, 29, 13, 45, 30, 5)",
               "(Atom('datetime'), ((2024, 2, 29), (13, 45, 30)), 5, None)");
    encodes_as("dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=-5)))",
               "(Atom('datetime'), ((2024, 1, 1), (0, 0, 0)), 0, -18000)");
    encodes_as("dt.date(1, 1, 1)", "(Atom('date'), (1, 1, 1))");
    encodes_as("dt.time(23, 59, 59, 999999)", "(Atom('time'), (23, 59, 59), 999999, None)");
    encodes_as("dt.timedelta(days=-1, microseconds=1)", "(Atom('timedelta'), -86399999999)");
    encodes_as("dt.timedelta.max", "(Atom('timedelta'), 86399999999999999999)");
}
END_TEST

START_TEST(test_convert_types_decimal_uuid_enum)
{
    encodes_as("decimal.Decimal('-0.10')", "(Atom('decimal'), '-0.10')");
    encodes_as("decimal.Decimal('nan')", "(Atom('decimal'), 'NaN')");
    encodes_as("uuid.UUID(int=1)", "(Atom('uuid'), '00000000-0000-0000-0000-000000000001')");
    run("class E(enum.Enum):\n    A = [1, 'x']\nclass I(enum.IntEnum):\n    B = 7\n");
    encodes_as("[E.A, I.B]", "[[1, 'x'], 7]");
}
END_TEST

START_TEST(test_convert_types_modules_never_imported)
{
    /* A class named like a known one, from another module, is not it. */
    run("class UUID:\n    pass\nclass Decimal(str):\n    pass\n");
    int was = objref_enable(0);
    encode_fails("UUID()", PyExc_TypeError, "type 'UUID'");
    objref_enable(was);
    encodes_as("Decimal('x')", "'x'");
    /* Decided by the type: an object's own __class__ never runs. */
    run("class Enum:\n    @property\n    def __class__(self): raise RuntimeError('ran')\n");
    was = objref_enable(0);
    encode_fails("Enum()", PyExc_TypeError, "type 'Enum'");
    objref_enable(was);
    PyObject *modules = PySys_GetObject("modules");
    ck_assert_ptr_null(PyDict_GetItemString(modules, "numpy"));
}
END_TEST

START_TEST(test_convert_types_register_encoder)
{
    run("class P:\n    def __init__(self, x): self.x = x\n"
        "class Q(P): pass\n"
        "erlang.register_encoder(P, lambda p: ('p', p.x))\n");
    encodes_as("[P(1), {'k': Q(P(2))}]", "[('p', 1), {'k': ('p', ('p', 2))}]");
    run("erlang.register_encoder(Q, lambda q: 'q')\n");
    encodes_as("(P(1), Q(2))", "(('p', 1), 'q')");
    run("erlang.register_encoder(dt.date, lambda d: d.isoformat())\n");
    encodes_as("[dt.date(2024, 2, 29), dt.datetime(2024, 2, 29)]",
               "['2024-02-29', '2024-02-29T00:00:00']");
    run("erlang.register_encoder(P, None)\nerlang.register_encoder(Q, None)\n");
    int was = objref_enable(0);
    encode_fails("P(1)", PyExc_TypeError, "type 'P'");
    objref_enable(was);
}
END_TEST

START_TEST(test_convert_types_register_encoder_refuses)
{
    const char *types[] = {"int",       "bool",       "float", "str",        "bytes",
                           "list",      "tuple",      "dict",  "type(None)", "object",
                           "bytearray", "memoryview", "3"};
    char stmt[128];
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        snprintf(stmt, sizeof(stmt),
                 "try:\n    erlang.register_encoder(%s, str)\n    ok = False\n"
                 "except TypeError:\n    ok = True\n"
                 "assert ok, %d\n",
                 types[i], (int)i);
        run(stmt);
    }
    run("try:\n    erlang.register_encoder(type('T', (), {}), 5)\n    ok = False\n"
        "except TypeError:\n    ok = True\nassert ok\n");
}
END_TEST

START_TEST(test_convert_types_encoder_errors)
{
    run("class R: pass\nclass L: pass\n"
        "def boom(o): raise KeyError('k')\n"
        "erlang.register_encoder(R, boom)\n"
        "erlang.register_encoder(L, lambda o: [o])\n");
    encode_fails("R()", PyExc_KeyError, "k");
    encode_fails("L()", PyExc_TypeError, "term nested deeper than");
}
END_TEST

START_TEST(test_convert_types_none_atom)
{
    ei_x_buff x;
    ck_assert_int_eq(encode("None", &x), 0);
    ck_assert_int_eq(x.index, 6); /* SMALL_ATOM_UTF8_EXT, 4, "none" */
    ck_assert(memcmp(x.buff + 2, "none", 4) == 0);
    ei_x_free(&x);
    convert_set_none_atom("nil");
    ck_assert_int_eq(encode("[None]", &x), 0);
    ck_assert(memcmp(x.buff + 5, "\x77\x03nil", 5) == 0); /* after the list header */
    ei_x_free(&x);
    convert_set_none_atom("null"); /* not one of the three: ignored */
    encodes_as("None", "None");
    ck_assert_int_eq(encode("None", &x), 0);
    ck_assert(memcmp(x.buff, "\x77\x03nil", 5) == 0);
    ei_x_free(&x);
    convert_set_none_atom("none");
}
END_TEST

/* import numpy, a new reference or NULL. A function of its own, never
 * inlined nor tail-called: under `make asan` the objects numpy keeps from its import are
 * suppressed by this name (lsan_numpy.supp), and nothing else is. */
__attribute__((noinline)) static PyObject *import_numpy(void)
{
    PyObject *np = PyImport_ImportModule("numpy");
    __asm__ volatile("" ::: "memory"); /* not a tail call: this frame stays */
    return np;
}

START_TEST(test_convert_types_numpy)
{
    PyObject *np = import_numpy();
    if (np == NULL && getenv("PY_PORT_NUMPY_OPTIONAL")) { /* scripts/test-pythons.sh */
        PyErr_Clear();
        fprintf(stderr, "numpy is not installed: its case is left out\n");
        return;
    }
    if (np == NULL) { /* numpy is optional for the port, not for make test */
        PyErr_Print();
        ck_abort_msg("numpy is not installed (scripts/setup.sh installs python3-numpy)");
    }
    Py_DECREF(np);
    run("import numpy as np\n");
    encodes_as("[np.int64(-5), np.float32(0.5), np.bool_(True), np.uint64(2**64 - 1)]",
               "[-5, 0.5, True, 18446744073709551615]");
    /* {ndarray, Dtype, Shape, Data} decodes back to an equal array. */
    encodes_as("np.arange(3, dtype='<i2')", "array([0, 1, 2], dtype=int16)");
    encodes_as("np.zeros((), dtype='|u1')", "array(0, dtype=uint8)");
    encodes_as("np.array([[1, None]], dtype=object)", "[[1, None]]");
    /* Back: {ndarray, ...} from a term decodes to an array equal to it. */
    ei_x_buff x;
    ck_assert_int_eq(encode("np.arange(6.0).reshape(2, 3).T", &x), 0);
    int i = 0;
    PyObject *a = convert_term_to_py(x.buff, x.index, &i);
    ck_assert_ptr_nonnull(a);
    PyDict_SetItemString(globals, "a", a);
    run("assert (a == np.arange(6.0).reshape(2, 3).T).all() and a.flags.writeable\n");
    Py_DECREF(a);
    ei_x_free(&x);
}
END_TEST

static Suite *convert_types_suite(void)
{
    Suite *s = suite_create("convert_types");
    TCase *c = tcase_create("convert_types");
    tcase_add_checked_fixture(c, start_python, NULL);
    tcase_set_timeout(c, 30);
    suite_add_tcase(s, c);
    tcase_add_test(c, test_convert_types_datetime_family);
    tcase_add_test(c, test_convert_types_decimal_uuid_enum);
    tcase_add_test(c, test_convert_types_modules_never_imported);
    tcase_add_test(c, test_convert_types_register_encoder);
    tcase_add_test(c, test_convert_types_register_encoder_refuses);
    tcase_add_test(c, test_convert_types_encoder_errors);
    tcase_add_test(c, test_convert_types_none_atom);
    tcase_add_test(c, test_convert_types_numpy);
    return s;
}

int main(void)
{
    return check_run(convert_types_suite());
}
