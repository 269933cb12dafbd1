# C types for stream.py on the compiled path (setup.py; Cython's augmenting .pxd): the .py stays the one source and
# runs as it is on the pure path. A class declared here is an extension type there: every attribute its __init__
# sets must be declared, and nothing may be added to it or its methods replaced at run time (tests subclass it).
cimport cython

cdef class Stream:
    cdef public bytearray buf
    cdef public long long base
    cdef public list _offs, _marks

    cpdef feed(self, data, double ts, long long frame)
    @cython.locals(marks=list, i=Py_ssize_t)
    cpdef tuple where(self, Py_ssize_t pos)
    @cython.locals(i=Py_ssize_t)
    cpdef consume(self, Py_ssize_t n)
