# C types for decode.py on the compiled path (setup.py; Cython's augmenting .pxd): the .py stays the one source and
# runs as it is on the pure path. The common UDP frame's header fields are read as C integers (``_TYPED``).
cimport cython

# Compiled only (decode.py calls them under ``_TYPED``, where the Python does the same with a slice and tuple.__new__):
# _c_cut(b, start, end) is b[start:end] of bytes b with 0 <= start (clamped as a slice is); _c_tuple2(cls, a, b) is
# tuple.__new__(cls, (a, b)) for a subclass of tuple: the object allocated by the class's tp_alloc, as
# tuple.__new__ allocates it, and its two items set (new references).
cdef extern from *:
    """
    static PyObject *duplexlab_decode_cut(PyObject *b, Py_ssize_t start, Py_ssize_t end) {
        Py_ssize_t n = PyBytes_GET_SIZE(b);
        if (start > n) start = n;
        if (end > n) end = n;
        if (end < start) end = start;
        if (start == 0 && end == n) { Py_INCREF(b); return b; }
        return PyBytes_FromStringAndSize(PyBytes_AS_STRING(b) + start, end - start);
    }
    static PyObject *duplexlab_decode_tuple2(PyObject *cls, PyObject *a, PyObject *b) {
        PyObject *t;
        if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &PyTuple_Type)) {
            PyErr_SetString(PyExc_TypeError, "not a subclass of tuple");
            return NULL;
        }
        t = ((PyTypeObject *)cls)->tp_alloc((PyTypeObject *)cls, 2);
        if (t == NULL) return NULL;
        Py_INCREF(a); PyTuple_SET_ITEM(t, 0, a);
        Py_INCREF(b); PyTuple_SET_ITEM(t, 1, b);
        return t;
    }
    """
    bytes _c_cut "duplexlab_decode_cut"(bytes b, Py_ssize_t start, Py_ssize_t end)
    object _c_tuple2 "duplexlab_decode_tuple2"(object cls, object a, object b)

@cython.locals(ethertype=cython.int, vihl=cython.int, proto=cython.int, total=Py_ssize_t, frag=cython.int,
               ulen=Py_ssize_t)
cpdef object _ethernet_udp(bytes data)

cpdef object _datagram(data, Py_ssize_t start, Py_ssize_t end, bytes key, Py_ssize_t ulen)
