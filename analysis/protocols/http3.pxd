# C types for http3.py on the compiled path (setup.py; Cython's augmenting .pxd): the .py stays the one source and
# runs as it is on the pure path. A class declared here is an extension type there: every attribute its __init__
# sets must be declared, and nothing may be added to it at run time. Http3Connection stays a Python class (tests wrap
# its methods); a stream half lives only inside it (never pickled). Frame lengths a peer writes fit in 62 bits.
cimport cython

# Compiled only (http3.py calls it under ``_COMPILED``, where the Python unpacks the tuple): _c_item(t, i) is t[i] of a
# tuple (or a subclass's, whose own item read may be a Python-level call: a NamedTuple's is) with 0 <= i < len(t).
cdef extern from *:
    """
    static PyObject *duplexlab_http3_item(PyObject *t, Py_ssize_t i) {
        PyObject *item;
        if (!PyTuple_Check(t) || i < 0 || i >= PyTuple_GET_SIZE(t)) {
            PyErr_SetString(PyExc_IndexError, "not an item of a tuple");
            return NULL;
        }
        item = PyTuple_GET_ITEM(t, i);
        Py_INCREF(item);
        return item;
    }
    """
    object _c_item "duplexlab_http3_item"(object t, Py_ssize_t i)

cdef class _Half:
    cdef public object buf, data_at
    cdef public str kind
    cdef public bint started
    cdef public long long skip, need, data_left, data_len

@cython.locals(half=_Half, fin=bint, fed=Py_ssize_t, left=Py_ssize_t, halves=dict)
cpdef _data(h3, x)
