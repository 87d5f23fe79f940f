/*
 * convert_types: the Python types of the standard library and numpy that
 * have a term of their own, and the encoders Python code registers
 * (convert_internal.h; the table is docs/types.md's).
 *
 * DESIGN: two steps of convert_encode.c's one dispatch, asked only for
 * objects the built-in types did not take: the user's encoders first
 * (erlang.register_encoder), then the known types below, in order. A
 * known type is looked up in sys.modules, never imported: an object of
 * it can only exist once its module is loaded, so a port that never
 * imports numpy never pays for it, and a lookup needs no cache. Both
 * sys.modules and the encoder table belong to the current interpreter
 * (interp_state.h), so no Python object here is shared between
 * interpreters. GIL held throughout; no state of its own.
 */
#include "convert_internal.h"

#include "interp_state.h"

#include <string.h>

/* A term for o at depth: 0 written, -1 error set, 1 not this step's. */
typedef int (*type_encoder)(PyObject *o, ei_x_buff *x, int depth);

static int ei_ok(int rc)
{
    return rc == 0 ? 0 : FAIL(PyErr_NoMemory());
}

/* The attribute `attr` of the module `name` if sys.modules has it, a new
 * reference; NULL without an exception when it has not. */
static PyObject *loaded(const char *name, const char *attr)
{
    PyObject *modules = PySys_GetObject("modules"); /* borrowed */
    PyObject *m = modules && PyDict_Check(modules) ? PyDict_GetItemString(modules, name) : NULL;
    PyObject *v = m ? PyObject_GetAttrString(m, attr) : NULL; /* m borrowed */
    if (v == NULL)
        PyErr_Clear();
    return v;
}

/* 1 if o's type is module.attr (loaded) or a subclass of it, else 0. By
 * the type itself: no __instancecheck__ or __class__ of o's runs, so a
 * proxy or a mock converts as what it is, and no Python code runs. */
static int is_a(PyObject *o, const char *module, const char *attr)
{
    PyObject *type = loaded(module, attr);
    int rc = type && PyType_Check(type) && PyType_IsSubtype(Py_TYPE(o), (PyTypeObject *)type);
    Py_XDECREF(type);
    return rc;
}

/* Encodes r, what o gave (a new reference, stolen), one level below o:
 * an encoder that returns its own argument fails at CONVERT_MAX_DEPTH. */
static int encode_result(PyObject *r, ei_x_buff *x, int depth)
{
    int rc = r && too_deep(depth + 1) == 0 ? convert_encode_at(r, x, depth + 1) : -1;
    Py_XDECREF(r);
    return rc;
}

/* Encodes int(o.name) etc. for the datetime parts: the attributes, in
 * order, as a tuple of integers. */
static int int_attrs(PyObject *o, const char *const *names, int n, ei_x_buff *x)
{
    if (ei_ok(ei_x_encode_tuple_header(x, n)) < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        PyObject *v = PyObject_GetAttrString(o, names[i]);
        long l = v ? PyLong_AsLong(v) : -1;
        Py_XDECREF(v);
        if (l == -1 && PyErr_Occurred())
            return -1;
        if (ei_ok(ei_x_encode_long(x, l)) < 0)
            return -1;
    }
    return 0;
}

static const char *const DATE[] = {"year", "month", "day"};
static const char *const TIME[] = {"hour", "minute", "second"};

/* The UTC offset of a datetime or time in seconds, or the None atom. */
static int utc_offset(PyObject *o, ei_x_buff *x, int depth)
{
    PyObject *delta = PyObject_CallMethod(o, "utcoffset", NULL);
    PyObject *secs =
        delta && delta != Py_None ? PyObject_CallMethod(delta, "total_seconds", NULL) : NULL;
    int rc;
    if (delta == Py_None)
        rc = convert_encode_at(Py_None, x, depth + 1);
    else
        rc = secs ? encode_result(PyNumber_Long(secs), x, depth) : -1;
    Py_XDECREF(secs);
    Py_XDECREF(delta);
    return rc;
}

/* {datetime, {{Y, Mo, D}, {H, Mi, S}}, Microsecond, Offset} */
static int encode_datetime(PyObject *o, ei_x_buff *x, int depth)
{
    int rc = is_a(o, "datetime", "datetime");
    if (rc != 1)
        return rc == 0 ? 1 : -1;
    if (ei_ok(ei_x_encode_tuple_header(x, 4)) < 0 || ei_ok(ei_x_encode_atom(x, "datetime")) < 0 ||
        ei_ok(ei_x_encode_tuple_header(x, 2)) < 0 || int_attrs(o, DATE, 3, x) < 0 ||
        int_attrs(o, TIME, 3, x) < 0)
        return -1;
    PyObject *us = PyObject_GetAttrString(o, "microsecond");
    return encode_result(us, x, depth) < 0 ? -1 : utc_offset(o, x, depth);
}

/* {date, {Y, Mo, D}} */
static int encode_date(PyObject *o, ei_x_buff *x, int depth)
{
    (void)depth;
    int rc = is_a(o, "datetime", "date");
    if (rc != 1)
        return rc == 0 ? 1 : -1;
    if (ei_ok(ei_x_encode_tuple_header(x, 2)) < 0 || ei_ok(ei_x_encode_atom(x, "date")) < 0)
        return -1;
    return int_attrs(o, DATE, 3, x);
}

/* {time, {H, Mi, S}, Microsecond, Offset} */
static int encode_time(PyObject *o, ei_x_buff *x, int depth)
{
    int rc = is_a(o, "datetime", "time");
    if (rc != 1)
        return rc == 0 ? 1 : -1;
    if (ei_ok(ei_x_encode_tuple_header(x, 4)) < 0 || ei_ok(ei_x_encode_atom(x, "time")) < 0 ||
        int_attrs(o, TIME, 3, x) < 0)
        return -1;
    PyObject *us = PyObject_GetAttrString(o, "microsecond");
    return encode_result(us, x, depth) < 0 ? -1 : utc_offset(o, x, depth);
}

/* {timedelta, Microseconds}: (days * 86400 + seconds) * 10**6 + us,
 * exactly (delta // timedelta(microseconds=1)). */
static int encode_timedelta(PyObject *o, ei_x_buff *x, int depth)
{
    int rc = is_a(o, "datetime", "timedelta");
    if (rc != 1)
        return rc == 0 ? 1 : -1;
    PyObject *type = (PyObject *)Py_TYPE(o);
    PyObject *unit = PyObject_CallFunction(type, "iii", 0, 0, 1);
    PyObject *us = unit ? PyNumber_FloorDivide(o, unit) : NULL;
    Py_XDECREF(unit);
    if (us == NULL || ei_ok(ei_x_encode_tuple_header(x, 2)) < 0 ||
        ei_ok(ei_x_encode_atom(x, "timedelta")) < 0) {
        Py_XDECREF(us);
        return -1;
    }
    return encode_result(us, x, depth);
}

/* {Tag, str(o)} for an instance of module.attr: Decimal, UUID. */
static int encode_text_form(PyObject *o, ei_x_buff *x, int depth, const char *module,
                            const char *attr, const char *tag)
{
    int rc = is_a(o, module, attr);
    if (rc != 1)
        return rc == 0 ? 1 : -1;
    if (ei_ok(ei_x_encode_tuple_header(x, 2)) < 0 || ei_ok(ei_x_encode_atom(x, tag)) < 0)
        return -1;
    return encode_result(PyObject_Str(o), x, depth);
}

static int encode_decimal(PyObject *o, ei_x_buff *x, int depth)
{
    return encode_text_form(o, x, depth, "decimal", "Decimal", "decimal");
}

static int encode_uuid(PyObject *o, ei_x_buff *x, int depth)
{
    return encode_text_form(o, x, depth, "uuid", "UUID", "uuid");
}

/* An Enum member: its value (IntEnum and StrEnum members are ints and
 * strs, taken before this step). */
static int encode_enum(PyObject *o, ei_x_buff *x, int depth)
{
    int rc = is_a(o, "enum", "Enum");
    if (rc != 1)
        return rc == 0 ? 1 : -1;
    return encode_result(PyObject_GetAttrString(o, "value"), x, depth);
}

/* numpy: a scalar (numpy.generic) as the Python value of .item(); an
 * array of booleans or numbers as {ndarray, Dtype, Shape, Data}, Data its
 * bytes in C order; any other array as the nested lists of .tolist(). */
static int encode_numpy(PyObject *o, ei_x_buff *x, int depth)
{
    int rc = is_a(o, "numpy", "generic");
    if (rc != 0)
        return rc < 0 ? -1 : encode_result(PyObject_CallMethod(o, "item", NULL), x, depth);
    rc = is_a(o, "numpy", "ndarray");
    if (rc != 1)
        return rc == 0 ? 1 : -1;
    PyObject *dtype = PyObject_GetAttrString(o, "dtype");
    PyObject *kind = dtype ? PyObject_GetAttrString(dtype, "kind") : NULL;
    const char *k = kind ? PyUnicode_AsUTF8(kind) : NULL;
    if (k && !strchr("biufc", k[0]))
        rc = encode_result(PyObject_CallMethod(o, "tolist", NULL), x, depth);
    else if (k && ei_ok(ei_x_encode_tuple_header(x, 4)) == 0 &&
             ei_ok(ei_x_encode_atom(x, "ndarray")) == 0 &&
             encode_result(PyObject_GetAttrString(dtype, "str"), x, depth) == 0 &&
             encode_result(PyObject_GetAttrString(o, "shape"), x, depth) == 0)
        rc = encode_result(PyObject_CallMethod(o, "tobytes", NULL), x, depth);
    else
        rc = -1;
    Py_XDECREF(kind);
    Py_XDECREF(dtype);
    return rc;
}

/* The known types, in the order they are tried: datetime before date
 * (a datetime is a date). */
static const type_encoder KNOWN[] = {
    encode_numpy,     encode_datetime, encode_date, encode_time,
    encode_timedelta, encode_decimal,  encode_uuid, encode_enum,
};

/* Whether a class of t's MRO has the C name (tp_name) of a known type:
 * without one, t is none of them, found with no lookup in sys.modules
 * (a reference's common case). With one, is_a() decides. */
static int may_be_known(PyTypeObject *t)
{
    static const char *const names[] = {"numpy.generic",
                                        "numpy.ndarray",
                                        "datetime.datetime",
                                        "datetime.date",
                                        "datetime.time",
                                        "datetime.timedelta",
                                        "decimal.Decimal",
                                        "Decimal",
                                        "UUID",
                                        "Enum"};
    PyObject *mro = t->tp_mro;
    for (Py_ssize_t i = 0; mro && i < PyTuple_GET_SIZE(mro); i++) {
        const char *name = ((PyTypeObject *)PyTuple_GET_ITEM(mro, i))->tp_name;
        for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
            if (strcmp(name, names[k]) == 0)
                return 1;
    }
    return 0;
}

int convert_known_type(PyObject *o, ei_x_buff *x, int depth)
{
    if (!may_be_known(Py_TYPE(o)))
        return 1;
    for (size_t i = 0; i < sizeof(KNOWN) / sizeof(KNOWN[0]); i++) {
        int rc = KNOWN[i](o, x, depth);
        if (rc != 1)
            return rc;
    }
    return 1;
}

/* The encoder registered for o's type or the nearest base in its MRO
 * (borrowed), or NULL: none, or an error set. */
static PyObject *encoder_of(PyObject *o)
{
    struct interp_state *st = interp_state();
    if (st == NULL || st->encoders == NULL || PyDict_GET_SIZE(st->encoders) == 0)
        return NULL;
    PyObject *mro = Py_TYPE(o)->tp_mro;
    for (Py_ssize_t i = 0; mro && i < PyTuple_GET_SIZE(mro); i++) {
        PyObject *f = PyDict_GetItemWithError(st->encoders, PyTuple_GET_ITEM(mro, i));
        if (f || PyErr_Occurred())
            return f;
    }
    return NULL;
}

int convert_user_encoder(PyObject *o, ei_x_buff *x, int depth)
{
    PyObject *f = encoder_of(o);
    if (f == NULL)
        return PyErr_Occurred() ? -1 : 1;
    Py_INCREF(f); /* the encoder may unregister itself */
    PyObject *r = PyObject_CallOneArg(f, o);
    Py_DECREF(f);
    return encode_result(r, x, depth);
}

/* Types whose term is fixed: an encoder for them would never be asked. */
static int builtin_type(PyObject *type)
{
    PyTypeObject *const fixed[] = {&PyBool_Type,      &PyLong_Type,       &PyFloat_Type,
                                   &PyUnicode_Type,   &PyBytes_Type,      &PyList_Type,
                                   &PyTuple_Type,     &PyDict_Type,       Py_TYPE(Py_None),
                                   &PyByteArray_Type, &PyMemoryView_Type, &PyBaseObject_Type};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        if (type == (PyObject *)fixed[i])
            return 1;
    return 0;
}

PyObject *convert_register_encoder(PyObject *module, PyObject *const *args, Py_ssize_t n)
{
    (void)module;
    struct interp_state *st = interp_state();
    if (n != 2)
        return PyErr_Format(PyExc_TypeError, "register_encoder() takes 2 arguments (%zd given)", n);
    PyObject *type = args[0], *f = args[1];
    if (!PyType_Check(type) || builtin_type(type))
        return PyErr_Format(PyExc_TypeError,
                            "register_encoder() takes a type other than object and the "
                            "built-in types of docs/types.md, not %R",
                            type);
    if (f != Py_None && !PyCallable_Check(f))
        return PyErr_Format(PyExc_TypeError, "register_encoder() takes a callable or None");
    if (st == NULL)
        return PyErr_Format(PyExc_RuntimeError, "the erlang module is not set up");
    if (st->encoders == NULL && (st->encoders = PyDict_New()) == NULL)
        return NULL;
    int rc =
        f == Py_None
            ? (PyDict_Contains(st->encoders, type) == 1 ? PyDict_DelItem(st->encoders, type) : 0)
            : PyDict_SetItem(st->encoders, type, f);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* numpy.frombuffer(bytearray(data), dtype).reshape(shape): the array is
 * writable and owns its copy of the frame's bytes. */
PyObject *convert_ndarray_from(PyObject *dtype, PyObject *shape, const char *data, int n)
{
    PyObject *np = PyImport_ImportModule("numpy");
    PyObject *buf = np ? PyByteArray_FromStringAndSize(data, n) : NULL;
    PyObject *flat = buf ? PyObject_CallMethod(np, "frombuffer", "OO", buf, dtype) : NULL;
    PyObject *a = flat ? PyObject_CallMethod(flat, "reshape", "(O)", shape) : NULL;
    Py_XDECREF(flat);
    Py_XDECREF(buf);
    Py_XDECREF(np);
    return a;
}
