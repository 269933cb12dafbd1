# C types for quic.py on the compiled path (setup.py; Cython's augmenting .pxd): the .py stays the one source and
# runs as it is on the pure path. A class declared here is an extension type there: every attribute its __init__
# sets must be declared, and nothing may be added to it or its methods replaced at run time. QuicReader stays a
# Python class (tests wrap its methods). Offsets and numbers a peer writes fit in 62 bits (RFC 9000 §16).
cimport cython

@cython.locals(first=cython.int)
cpdef tuple varint(buf, Py_ssize_t pos)

cdef class Ranges:
    cdef public list spans
    cdef public bint full

    @cython.locals(i=Py_ssize_t, j=Py_ssize_t)
    cpdef add(self, start, end)

cdef class _Recv:
    cdef public long long next, held
    cdef public object final
    cdef public dict pending

    @cython.locals(end=cython.longlong, pending=dict, out=list)
    cpdef list add(self, long long offset, bytes data, bint fin)

@cython.locals(pos=Py_ssize_t, n=Py_ssize_t, ftype=cython.longlong, length=cython.longlong, rlen=cython.longlong)
cpdef _frames(reader, qc, direction, str space, bytes p, frame, ts, list out)

@cython.locals(pos=Py_ssize_t, first=cython.int, p=Py_ssize_t, end=Py_ssize_t, packet=bytes)
cpdef _datagram(reader, qc, direction, bytes d, frame, ts, list out)

cpdef _opened(reader, qc, direction, str space, pn, bytes plain, frame, ts, list out)

@cython.locals(recv=_Recv, before=cython.longlong, held=cython.longlong, pieces=list, last=Py_ssize_t, i=Py_ssize_t)
cpdef _stream(qc, direction, sid, off, bytes data, bint fin, frame, ts, list out)
