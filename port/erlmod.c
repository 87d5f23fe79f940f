/*
 * erlmod: the built-in Python module `erlang`.
 *
 * DESIGN: three heap types, made per interpreter (multi-phase init: an
 * owngil context imports its own module, whose state, interp_state.h,
 * holds its types and `known`). The state holds a reference to its module
 * that the collector does not see, so the module and its state live as
 * long as the interpreter, whatever Python code does to sys.modules:
 * pyrun's namespace and module cache, and the table of references, live
 * there too. A second import in the same interpreter shares the first
 * module's contents. erlang.Atom subclasses str and inherits
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
 * Threading: every function but erlmod_register() needs the GIL of the
 * current interpreter, which guards its state. The budget is the port's,
 * shared by all interpreters: `new_atoms` is atomic. A name admitted in
 * two interpreters is counted twice (each keeps its own `known`).
 */
#include "erlmod.h"

#include "callback.h"
#include "convert.h"
#include "cancel.h"
#include "envelope.h"
#include "interp_state.h"
#include "objref.h"
#include "pycompat.h"

#include <stdatomic.h>

#include <ei.h>

#define ATOM_MAX_CHARS 255

typedef struct {
    PyObject_HEAD PyObject *bytes; /* exact bytes: the term without version byte */
} Opaque;

static atomic_long new_atoms;                   /* names admitted from Python so far */
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

static PyType_Slot atom_slots[] = {
    {Py_tp_doc, (void *)PyDoc_STR("An Erlang atom: a str that converts back to an "
                                  "atom instead of a binary.")},
    {Py_tp_repr, (void *)atom_repr},
    {0, NULL},
};

static PyType_Spec atom_spec = {"erlang.Atom", 0, 0, Py_TPFLAGS_DEFAULT, atom_slots};

/* erlang.Pid, erlang.Ref */

static void opaque_dealloc(PyObject *self)
{
    PyTypeObject *type = Py_TYPE(self); /* a heap type: its instances hold it */
    Py_XDECREF(((Opaque *)self)->bytes);
    type->tp_free(self);
    Py_DECREF(type);
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

/* No tp_new and no subclasses: Python code only gets them from Erlang data. */
#define OPAQUE_FLAGS (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION)

#define OPAQUE_SPEC(cname, pyname, doc)                                                            \
    static PyType_Slot cname##_slots[] = {                                                         \
        {Py_tp_doc, (void *)PyDoc_STR(doc)},                                                       \
        {Py_tp_dealloc, (void *)opaque_dealloc},                                                   \
        {Py_tp_repr, (void *)opaque_repr},                                                         \
        {Py_tp_hash, (void *)opaque_hash},                                                         \
        {Py_tp_richcompare, (void *)opaque_richcompare},                                           \
        {Py_tp_methods, (void *)opaque_methods},                                                   \
        {0, NULL},                                                                                 \
    };                                                                                             \
    static PyType_Spec cname = {pyname, sizeof(Opaque), 0, OPAQUE_FLAGS, cname##_slots}

OPAQUE_SPEC(pid_spec, "erlang.Pid",
            "An Erlang pid, received from Erlang; converts back to the same "
            "pid.");
OPAQUE_SPEC(ref_spec, "erlang.Ref",
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
    return PyObject_CallOneArg((PyObject *)erlmod_atom_type(), name);
}

static PyMethodDef erlmod_functions[] = {
    {"atom", erlmod_atom, METH_O,
     PyDoc_STR("atom(name) -> erlang.Atom; TypeError beyond the atom cap "
               "(docs/types.md).")},
    {"register_encoder", (PyCFunction)(void (*)(void))convert_register_encoder, METH_FASTCALL,
     PyDoc_STR("register_encoder(type, fun): fun(obj) is sent in place of an instance of "
               "type; fun None unregisters (docs/types.md).")},
    {NULL, NULL, 0, NULL},
};

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

/* Makes a type of the module from spec and adds it as `name`. */
static PyTypeObject *add_type(PyObject *m, PyType_Spec *spec, PyObject *base, const char *name)
{
    PyObject *type = pycompat_type_from_spec(m, spec, base);
    if (type && base == NULL) /* Pid, Ref: OPAQUE_FLAGS without the flag on Python 3.9 */
        PYCOMPAT_DISALLOW_NEW(type);
    if (type && PyModule_AddObjectRef(m, name, type) < 0)
        Py_CLEAR(type);
    return (PyTypeObject *)type;
}

/* The parts of the module made by other files, each in the interpreter's
 * state: references, Cancelled, call/send/self/whereis/Error. */
static int setup_parts(void)
{
    return objref_setup() == 0 && cancel_setup() == 0 && callback_setup() == 0 ? 0 : -1;
}

/* Py_mod_exec: the module's state, in every interpreter that imports it.
 * Imported again in the same interpreter (its sys.modules entry deleted
 * while the module lives on), the new module takes the first one's
 * contents: the interpreter keeps one state, one table of references. */
static int erlmod_exec(PyObject *m)
{
    struct interp_state *st = interp_state(), *first = st;
    if (first)
        return PyDict_Update(PyModule_GetDict(m), PyModule_GetDict(first->module));
    st = PyModule_GetState(m);
    st->owner_ctx = -1;
    st->module = Py_NewRef(m); /* lives as long as its interpreter: see DESIGN */
    st->next_id = 1;
    if (!(st->known = new_known()) ||
        !(st->atom_type = add_type(m, &atom_spec, (PyObject *)&PyUnicode_Type, "Atom")) ||
        !(st->pid_type = add_type(m, &pid_spec, NULL, "Pid")) ||
        !(st->ref_type = add_type(m, &ref_spec, NULL, "Ref")))
        return -1;
    interp_state_add(st);
    if (setup_parts() != 0) {
        interp_state_remove(st);
        return -1;
    }
    return 0;
}

static int erlmod_traverse(PyObject *m, visitproc visit, void *arg)
{
    return interp_state_traverse(PyModule_GetState(m), visit, arg);
}

/* m_clear and m_free: the state is no longer the interpreter's. As the
 * state holds its module (not traversed), neither runs while the
 * interpreter lives: only a module made by a second import (whose state is
 * empty) is ever collected. */
static int erlmod_clear(PyObject *m)
{
    struct interp_state *st = PyModule_GetState(m);
    if (st) {
        interp_state_remove(st);
        interp_state_clear(st);
    }
    return 0;
}

static void erlmod_free(void *m)
{
    erlmod_clear(m);
}

static PyModuleDef_Slot erlmod_slots[] = {
    {Py_mod_exec, (void *)erlmod_exec},
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
    {0, NULL},
};

static struct PyModuleDef erlmod_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "erlang",
    .m_doc = PyDoc_STR("Erlang from Python: its values, and calls to Erlang functions."),
    .m_size = sizeof(struct interp_state),
    .m_methods = erlmod_functions,
    .m_slots = erlmod_slots,
    .m_traverse = erlmod_traverse,
    .m_clear = erlmod_clear,
    .m_free = erlmod_free,
};

static PyObject *PyInit_erlang(void)
{
    return PyModuleDef_Init(&erlmod_def);
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
    return interp_state()->atom_type;
}
PyTypeObject *erlmod_pid_type(void)
{
    return interp_state()->pid_type;
}
PyTypeObject *erlmod_ref_type(void)
{
    return interp_state()->ref_type;
}

PyObject *erlmod_atom_from_erlang(const char *utf8, Py_ssize_t len)
{
    PyObject *name = PyUnicode_DecodeUTF8(utf8, len, "strict");
    if (name == NULL)
        return NULL;
    struct interp_state *st = interp_state();
    PyObject *atom = PyDict_GetItemWithError(st->known, name);
    if (atom != NULL && Py_IS_TYPE(atom, st->atom_type)) {
        Py_INCREF(atom);
    } else if (!PyErr_Occurred()) {
        atom = PyObject_CallOneArg((PyObject *)st->atom_type, name);
        if (atom != NULL && PyDict_SetItem(st->known, name, atom) < 0)
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
    PyObject *known = interp_state()->known;
    int found = PyDict_Contains(known, name);
    if (found != 0)
        return found < 0 ? -1 : 0;
    if (PyUnicode_GET_LENGTH(name) > ATOM_MAX_CHARS) {
        PyErr_Format(PyExc_TypeError, "atom name longer than %d characters", ATOM_MAX_CHARS);
        return -1;
    }
    if (atomic_fetch_add(&new_atoms, 1) >= atom_budget) { /* taken before it is known */
        atomic_fetch_sub(&new_atoms, 1);
        PyErr_Format(PyExc_TypeError, "atom cap of %ld new atoms reached", atom_cap);
        return -1;
    }
    PyObject *key = PyUnicode_FromObject(name); /* plain str */
    int rc = key ? report_atom(key) : -1;
    if (rc == 0)
        rc = PyDict_SetItem(known, key, Py_None);
    Py_XDECREF(key);
    if (rc != 0)
        atomic_fetch_sub(&new_atoms, 1);
    return rc;
}

PyObject *erlmod_pid_new(const char *term, Py_ssize_t len)
{
    return opaque_new(interp_state()->pid_type, term, len);
}

PyObject *erlmod_ref_new(const char *term, Py_ssize_t len)
{
    return opaque_new(interp_state()->ref_type, term, len);
}

int erlmod_opaque_bytes(PyObject *obj, const char **term, Py_ssize_t *len)
{
    struct interp_state *st = interp_state();
    if (!Py_IS_TYPE(obj, st->pid_type) && !Py_IS_TYPE(obj, st->ref_type)) {
        PyErr_SetString(PyExc_TypeError, "not an erlang.Pid or erlang.Ref");
        return -1;
    }
    PyObject *bytes = ((Opaque *)obj)->bytes;
    *term = PyBytes_AS_STRING(bytes);
    *len = PyBytes_GET_SIZE(bytes);
    return 0;
}
