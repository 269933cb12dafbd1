# C types for quic.py on the compiled path (setup.py; Cython's augmenting .pxd): the .py stays the one source and
# runs as it is on the pure path. A class declared here is an extension type there: every attribute its __init__
# sets must be declared, and nothing may be added to it or its methods replaced at run time. QuicReader stays a
# Python class (tests wrap its methods). Offsets and numbers a peer writes fit in 62 bits (RFC 9000 §16).
cimport cython

# Compiled only (quic.py calls them under ``_COMPILED``, where the Python does the same with a slice and tuple.__new__):
# _c_cut(b, start, end) is b[start:end] of bytes b with 0 <= start (clamped as a slice is); _c_tuple7(cls, ...) is
# tuple.__new__(cls, (the seven)) for a subclass of tuple: the object allocated by the class's tp_alloc, as
# tuple.__new__ allocates it, and its items set (new references); _c_item(t, i) is t[i] of a tuple (or a subclass's,
# whose own item read may be a Python-level call: a NamedTuple's is) with 0 <= i < len(t).
cdef extern from *:
    """
    static PyObject *duplexlab_quic_cut(PyObject *b, Py_ssize_t start, Py_ssize_t end) {
        Py_ssize_t n = PyBytes_GET_SIZE(b);
        if (start > n) start = n;
        if (end > n) end = n;
        if (end < start) end = start;
        if (start == 0 && end == n) { Py_INCREF(b); return b; }
        return PyBytes_FromStringAndSize(PyBytes_AS_STRING(b) + start, end - start);
    }
    static PyObject *duplexlab_quic_tuple7(PyObject *cls, PyObject *a, PyObject *b, PyObject *c, PyObject *d,
                                           PyObject *e, PyObject *f, PyObject *g) {
        PyObject *t, *items[7] = {a, b, c, d, e, f, g};
        Py_ssize_t i;
        if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &PyTuple_Type)) {
            PyErr_SetString(PyExc_TypeError, "not a subclass of tuple");
            return NULL;
        }
        t = ((PyTypeObject *)cls)->tp_alloc((PyTypeObject *)cls, 7);
        if (t == NULL) return NULL;
        for (i = 0; i < 7; i++) {
            Py_INCREF(items[i]);
            PyTuple_SET_ITEM(t, i, items[i]);
        }
        return t;
    }
    static PyObject *duplexlab_quic_item(PyObject *t, Py_ssize_t i) {
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
    bytes _c_cut "duplexlab_quic_cut"(bytes b, Py_ssize_t start, Py_ssize_t end)
    object _c_tuple7 "duplexlab_quic_tuple7"(object cls, object a, object b, object c, object d, object e, object f,
                                              object g)
    object _c_item "duplexlab_quic_item"(object t, Py_ssize_t i)

@cython.locals(value=cython.longlong, end=Py_ssize_t)
cpdef tuple varint(buf, Py_ssize_t pos)

# C integers in and out for the frame walk (a 62-bit value fits a long long).
@cython.locals(first=cython.int)
cpdef (long long, Py_ssize_t) _varint(bytes buf, Py_ssize_t pos)

cdef class Ranges:
    cdef public list spans
    cdef public bint full

    # numbers below 2**63: packet numbers and stream numbers (62 bits, RFC 9000 §16) and one past them
    @cython.locals(i=Py_ssize_t, j=Py_ssize_t, last=list, lo=cython.longlong, hi=cython.longlong)
    cpdef add(self, long long start, long long end)

cdef class _Recv:
    cdef public long long next, held
    cdef public object final
    cdef public dict pending

    @cython.locals(end=cython.longlong, pending=dict, out=list)
    cpdef list add(self, long long offset, bytes data, bint fin)
    cpdef bint done(self)

cdef class _QConn:
    cdef public object info, odcid, random, suite, id
    cdef public bytes client
    cdef public dict keys, largest, crypto, hello, streams, finished, held, acked
    cdef public set closed
    cdef public list early
    cdef public long long out_of_order, opened_1rtt, failed_1rtt
    cdef public long long packets_c2s, packets_s2c, bytes_c2s, bytes_s2c, payload_c2s, payload_s2c
    cdef public long long largest_c2s, largest_s2c
    cdef public int cid_c2s, cid_s2c, phase_c2s, phase_s2c
    cdef public bint unread

@cython.locals(pos=Py_ssize_t, n=Py_ssize_t, ftype=cython.longlong, length=cython.longlong, rlen=cython.longlong,
               sid=cython.longlong, off=cython.longlong, acked=Ranges)
cpdef _frames(reader, _QConn qc, direction, str space, bytes p, frame, ts, list out)

@cython.locals(key=bytes, payload=bytes, qc=_QConn, conns=dict)
cpdef list _feed(reader, frame, ts, dg)

@cython.locals(pos=Py_ssize_t, first=cython.int, p=Py_ssize_t, end=Py_ssize_t, packet=bytes, sd=tuple,
               dcid_len=Py_ssize_t, scid_len=Py_ssize_t, phase=cython.int)
cpdef _datagram(reader, _QConn qc, direction, bytes d, frame, ts, list out)

@cython.locals(sd=tuple, held=Ranges)
cpdef _opened(reader, _QConn qc, direction, str space, long long pn, bytes plain, frame, ts, list out)

cpdef long long _largest(_QConn qc, tuple sd)

cpdef long long _stream_key(direction, long long sid)

@cython.locals(recv=_Recv, before=cython.longlong, held=cython.longlong, pieces=list, last=Py_ssize_t, i=Py_ssize_t,
               key=cython.longlong)
cpdef _stream(_QConn qc, direction, long long sid, long long off, bytes data, bint fin, frame, ts, list out)

cpdef _finished(_QConn qc, direction, long long sid)

cpdef _stream_data(conn, direction, sid, bytes data, bint fin, ts, frame)

cpdef _settle(_QConn qc)
