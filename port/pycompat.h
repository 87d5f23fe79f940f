/*
 * pycompat: what the port uses of the C API of Python 3.10 and later,
 * made for Python 3.9 (Debian 11's), so that the same code builds
 * against 3.9 to 3.13.
 *
 * DESIGN: include it after <Python.h>. Each shim does what the newer
 * API does, no more; what has no shim (owngil needs 3.12) is refused at
 * run time with a clear error where it is asked for (modes.c).
 */
#ifndef PY_PORT_PYCOMPAT_H
#define PY_PORT_PYCOMPAT_H

#include <Python.h>

#if PY_VERSION_HEX < 0x030A0000
/* A new strong reference to o, returned (3.10). */
static inline PyObject *pycompat_new_ref(PyObject *o)
{
    Py_INCREF(o);
    return o;
}
#define Py_NewRef(o) pycompat_new_ref((PyObject *)(o))

/* PyModule_AddObject() that does not steal value (3.10). */
static inline int pycompat_add_object_ref(PyObject *m, const char *name, PyObject *value)
{
    Py_XINCREF(value);
    if (PyModule_AddObject(m, name, value) == 0)
        return 0;
    Py_XDECREF(value);
    return -1;
}
#define PyModule_AddObjectRef pycompat_add_object_ref

/* 3.9 has no such flag: the type's tp_new is cleared after it is made
 * instead (PYCOMPAT_DISALLOW_NEW), which is what the flag does. */
#define Py_TPFLAGS_DISALLOW_INSTANTIATION 0
#define PYCOMPAT_DISALLOW_NEW(type) (((PyTypeObject *)(type))->tp_new = NULL)
#else
#define PYCOMPAT_DISALLOW_NEW(type) ((void)(type))
#endif

/* PyType_FromModuleAndSpec() with one base class or NULL; 3.9 takes a
 * tuple of bases only. A new reference, or NULL with an exception set. */
static inline PyObject *pycompat_type_from_spec(PyObject *m, PyType_Spec *spec, PyObject *base)
{
#if PY_VERSION_HEX < 0x030A0000
    if (base) {
        PyObject *bases = PyTuple_Pack(1, base);
        PyObject *type = bases ? PyType_FromModuleAndSpec(m, spec, bases) : NULL;
        Py_XDECREF(bases);
        return type;
    }
#endif
    return PyType_FromModuleAndSpec(m, spec, base);
}

/* An empty dict with room for n items: no growing (and rehashing every
 * key, eleven times for 10,000) while they are inserted. CPython has no
 * public call for it; _PyDict_NewPresized() is in the non-limited API of
 * 3.9 to 3.13 (and used by Cython). A Python this file does not know gets
 * a plain dict. */
static inline PyObject *pycompat_dict_for(Py_ssize_t n)
{
#if PY_VERSION_HEX < 0x030E0000
    return _PyDict_NewPresized(n);
#else
    (void)n;
    return PyDict_New();
#endif
}

#endif
