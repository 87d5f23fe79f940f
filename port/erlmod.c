/*
 * erlmod: the built-in Python module `erlang`.
 *
 * DESIGN: three static C types. erlang.Atom subclasses str and inherits
 * its hash and comparisons, so Atom('foo') == 'foo' and both find the same
 * dict entry; only repr differs. erlang.Pid and erlang.Ref share one
 * layout: a bytes object holding the term's external format (no version
 * byte). They have no tp_new and cannot be subclassed, so Python code can
 * only obtain them from Erlang data, and the bytes they hold are always
 * bytes convert_decode.c took from a decoded term. They hash, compare and
 * order by those bytes (a Pid never equals a Ref).
 *
 * The atom cap: `known` maps every atom name that may leave for Erlang
 * (plain str) to its cached erlang.Atom (names that arrived from Erlang) or
 * None (names admitted from Python data, and the atoms of the conversion
 * table such as true and nan). Names from Erlang are free; Python names are
 * admitted while the budget the node gave this port lasts (the node's cap
 * less what earlier ports used: erlmod_set_atom_budget()), and each one
 * admitted is reported to the owner, which counts it for the node's life:
 * Erlang's atom table grows by a bounded amount, whatever the restarts. The cache also spares
 * decoding a new Atom object for every atom that arrives.
 *
 * Threading: every function but erlmod_register() needs the GIL, which is
 * the only lock guarding the static state below. Single-phase module init,
 * one interpreter.
 */
#include "erlmod.h"

#include "envelope.h"

#include <ei.h>

#define ATOM_MAX_CHARS 255

typedef struct {
    PyObject_HEAD PyObject *bytes; /* exact bytes: the term without version byte */
} Opaque;

static PyObject *known;                         /* str -> erlang.Atom | None; see DESIGN */
static int new_atoms;                           /* names admitted from Python so far */
static long atom_cap = ERLMOD_MAX_NEW_ATOMS;    /* the node's, for the message */
static long atom_budget = ERLMOD_MAX_NEW_ATOMS; /* what this port may admit */
static struct writer *atom_report;              /* where admissions are reported */

/* Atoms the conversion tables use for Python values: free. */
static const char *const table_atoms[] = {
    "true", "false", "none", "nil", "undefined", "nan", "infinity", "neg_infinity",
};

/* erlang.Atom */

static PyObject *atom_repr(PyObject *self)
{
    PyObject *inner = PyUnicode_Type.tp_repr(self);
    if (inner == NULL)
        return NULL;
    PyObject *r = PyUnicode_FromFormat("Atom(%U)", inner);
    Py_DECREF(inner);
    return r;
}

static PyTypeObject AtomType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "erlang.Atom",
    .tp_doc = PyDoc_STR("An Erlang atom: a str that converts back to an "
                        "atom instead of a binary."),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_base = &PyUnicode_Type,
    .tp_repr = atom_repr,
};

/* erlang.Pid, erlang.Ref */

static void opaque_dealloc(PyObject *self)
{
    Py_XDECREF(((Opaque *)self)->bytes);
    Py_TYPE(self)->tp_free(self);
}

static Py_hash_t opaque_hash(PyObject *self)
{
    return PyObject_Hash(((Opaque *)self)->bytes);
}

static PyObject *opaque_richcompare(PyObject *a, PyObject *b, int op)
{
    if (!Py_IS_TYPE(b, Py_TYPE(a)))
        Py_RETURN_NOTIMPLEMENTED;
    return PyObject_RichCompare(((Opaque *)a)->bytes, ((Opaque *)b)->bytes, op);
}

/* "<erlang.Pid node 85.0>" or "<erlang.Ref node 1.2.3>" (id words in the
 * order Erlang prints them); the bytes' repr if ei cannot read them. */
static PyObject *opaque_repr(PyObject *self)
{
    const char *buf = PyBytes_AS_STRING(((Opaque *)self)->bytes);
    const char *name = Py_TYPE(self)->tp_name;
    int i = 0;
    erlang_pid pid;
    erlang_ref ref;

    if (ei_decode_pid(buf, &i, &pid) == 0)
        return PyUnicode_FromFormat("<%s %s %u.%u>", name, pid.node, pid.num, pid.serial);
    i = 0;
    if (ei_decode_ref(buf, &i, &ref) == 0 && ref.len >= 1 && ref.len <= 5) {
        PyObject *r = PyUnicode_FromFormat("<%s %s %u", name, ref.node, ref.n[ref.len - 1]);
        for (int k = ref.len - 2; r != NULL && k >= 0; k--)
            PyUnicode_AppendAndDel(&r, PyUnicode_FromFormat(".%u", ref.n[k]));
        if (r != NULL)
            PyUnicode_AppendAndDel(&r, PyUnicode_FromString(">"));
        return r;
    }
    return PyUnicode_FromFormat("<%s %R>", name, ((Opaque *)self)->bytes);
}

/* Immutable values: copy.copy and copy.deepcopy return the object. */
static PyObject *opaque_copy(PyObject *self, PyObject *args)
{
    (void)args;
    return Py_NewRef(self);
}

static PyMethodDef opaque_methods[] = {
    {"__copy__", opaque_copy, METH_NOARGS, NULL},
    {"__deepcopy__", opaque_copy, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

#define OPAQUE_TYPE(cname, pyname, doc)                                                            \
    static PyTypeObject cname = {                                                                  \
        PyVarObject_HEAD_INIT(NULL, 0).tp_name = pyname,                                           \
        .tp_doc = PyDoc_STR(doc),                                                                  \
        .tp_basicsize = sizeof(Opaque),                                                            \
        .tp_flags = Py_TPFLAGS_DEFAULT,                                                            \
        .tp_dealloc = opaque_dealloc,                                                              \
        .tp_repr = opaque_repr,                                                                    \
        .tp_hash = opaque_hash,                                                                    \
        .tp_richcompare = opaque_richcompare,                                                      \
        .tp_methods = opaque_methods,                                                              \
    }

OPAQUE_TYPE(PidType, "erlang.Pid",
            "An Erlang pid, received from Erlang; converts back to the same "
            "pid.");
OPAQUE_TYPE(RefType, "erlang.Ref",
            "An Erlang reference, received from Erlang; converts back to the "
            "same reference.");

static PyObject *opaque_new(PyTypeObject *type, const char *term, Py_ssize_t len)
{
    PyObject *bytes = PyBytes_FromStringAndSize(term, len);
    if (bytes == NULL)
        return NULL;
    Opaque *self = PyObject_New(Opaque, type);
    if (self == NULL) {
        Py_DECREF(bytes);
        return NULL;
    }
    self->bytes = bytes;
    return (PyObject *)self;
}

/* The module */

/* erlang.atom(name): an erlang.Atom, if the atom cap allows it. */
static PyObject *erlmod_atom(PyObject *module, PyObject *name)
{
    (void)module;
    if (!PyUnicode_Check(name))
        return PyErr_Format(PyExc_TypeError, "erlang.atom() takes a str, not %.100s",
                            Py_TYPE(name)->tp_name);
    if (erlmod_atom_admit(name) != 0)
        return NULL;
    return PyObject_CallOneArg((PyObject *)&AtomType, name);
}

static PyMethodDef erlmod_functions[] = {
    {"atom", erlmod_atom, METH_O,
     PyDoc_STR("atom(name) -> erlang.Atom; TypeError beyond the atom cap "
               "(docs/types.md).")},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef erlmod_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "erlang",
    .m_doc = PyDoc_STR("Erlang from Python: its values, and calls to Erlang functions."),
    .m_size = -1,
    .m_methods = erlmod_functions,
};

static int add_type(PyObject *m, PyTypeObject *type, const char *name)
{
    if (PyType_Ready(type) < 0)
        return -1;
    return PyModule_AddObjectRef(m, name, (PyObject *)type);
}

/* The atom names known before any term arrives: the table's own. */
static PyObject *new_known(void)
{
    PyObject *d = PyDict_New();
    for (size_t i = 0; d != NULL && i < sizeof table_atoms / sizeof *table_atoms; i++) {
        PyObject *name = PyUnicode_FromString(table_atoms[i]);
        if (name == NULL || PyDict_SetItem(d, name, Py_None) < 0)
            Py_CLEAR(d);
        Py_XDECREF(name);
    }
    return d;
}

static PyObject *PyInit_erlang(void)
{
    PyObject *m = PyModule_Create(&erlmod_def);
    if (m == NULL)
        return NULL;
    if (known == NULL && (known = new_known()) == NULL)
        goto fail;
    if (add_type(m, &AtomType, "Atom") < 0 || add_type(m, &PidType, "Pid") < 0 ||
        add_type(m, &RefType, "Ref") < 0)
        goto fail;
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}

int erlmod_register(void)
{
    return PyImport_AppendInittab("erlang", PyInit_erlang);
}

int erlmod_setup(void)
{
    PyObject *m = PyImport_ImportModule("erlang");
    if (m == NULL)
        return -1;
    Py_DECREF(m);
    return 0;
}

PyTypeObject *erlmod_atom_type(void)
{
    return &AtomType;
}
PyTypeObject *erlmod_pid_type(void)
{
    return &PidType;
}
PyTypeObject *erlmod_ref_type(void)
{
    return &RefType;
}

PyObject *erlmod_atom_from_erlang(const char *utf8, Py_ssize_t len)
{
    PyObject *name = PyUnicode_DecodeUTF8(utf8, len, "strict");
    if (name == NULL)
        return NULL;
    PyObject *atom = PyDict_GetItemWithError(known, name);
    if (atom != NULL && Py_IS_TYPE(atom, &AtomType)) {
        Py_INCREF(atom);
    } else if (!PyErr_Occurred()) {
        atom = PyObject_CallOneArg((PyObject *)&AtomType, name);
        if (atom != NULL && PyDict_SetItem(known, name, atom) < 0)
            Py_CLEAR(atom);
    }
    Py_DECREF(name);
    return atom;
}

void erlmod_set_atom_budget(long cap, long budget)
{
    atom_cap = cap;
    atom_budget = budget;
}

void erlmod_report_atoms(struct writer *w)
{
    atom_report = w;
}

/* Queues the event {atom, Name} for the owner. 0, or -1 with an exception
 * set (the atom is then not admitted: it must not leave uncounted). */
static int report_atom(PyObject *key)
{
    Py_ssize_t n;
    const char *utf8 = atom_report ? PyUnicode_AsUTF8AndSize(key, &n) : NULL;
    if (!atom_report)
        return 0;
    if (!utf8)
        return -1;
    ei_x_buff x;
    char *buf;
    size_t len;
    if (envelope_reply_begin(&x, NULL, 0, 0) != 0)
        return PyErr_NoMemory(), -1;
    if (ei_x_encode_tuple_header(&x, 2) != 0 || ei_x_encode_atom(&x, "atom") != 0 ||
        ei_x_encode_binary(&x, utf8, (long)n) != 0) {
        ei_x_free(&x);
        return PyErr_NoMemory(), -1;
    }
    envelope_reply_finish(&x, 0, &buf, &len);
    return writer_queue(atom_report, buf, len) == 0 ? 0 : (PyErr_NoMemory(), -1);
}

int erlmod_atom_admit(PyObject *name)
{
    if (!PyUnicode_Check(name)) {
        PyErr_SetString(PyExc_TypeError, "atom name must be a str");
        return -1;
    }
    int found = PyDict_Contains(known, name);
    if (found != 0)
        return found < 0 ? -1 : 0;
    if (PyUnicode_GET_LENGTH(name) > ATOM_MAX_CHARS) {
        PyErr_Format(PyExc_TypeError, "atom name longer than %d characters", ATOM_MAX_CHARS);
        return -1;
    }
    if (new_atoms >= atom_budget) {
        PyErr_Format(PyExc_TypeError, "atom cap of %ld new atoms reached", atom_cap);
        return -1;
    }
    PyObject *key = PyUnicode_FromObject(name); /* plain str */
    if (key == NULL)
        return -1;
    int rc = report_atom(key);
    if (rc == 0)
        rc = PyDict_SetItem(known, key, Py_None);
    Py_DECREF(key);
    if (rc == 0)
        new_atoms++;
    return rc;
}

PyObject *erlmod_pid_new(const char *term, Py_ssize_t len)
{
    return opaque_new(&PidType, term, len);
}

PyObject *erlmod_ref_new(const char *term, Py_ssize_t len)
{
    return opaque_new(&RefType, term, len);
}

int erlmod_opaque_bytes(PyObject *obj, const char **term, Py_ssize_t *len)
{
    if (!Py_IS_TYPE(obj, &PidType) && !Py_IS_TYPE(obj, &RefType)) {
        PyErr_SetString(PyExc_TypeError, "not an erlang.Pid or erlang.Ref");
        return -1;
    }
    PyObject *bytes = ((Opaque *)obj)->bytes;
    *term = PyBytes_AS_STRING(bytes);
    *len = PyBytes_GET_SIZE(bytes);
    return 0;
}
