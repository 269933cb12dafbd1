# C types for websocket.py on the compiled path (setup.py; Cython's augmenting .pxd): the .py stays the one source
# and runs as it is on the pure path. A class declared here is an extension type there: every attribute its __init__
# sets must be declared, and nothing may be added to it or its methods replaced at run time. (A masking check's
# count of its frames, _Masks, lives with its connection: it is never pickled.)
cimport cython
from _duplexlab_built.events cimport WsFrame  # (fields read in C: _speed.CIMPORTS)

cdef class _Masks:
    cdef public list evidence, wrong
    cdef public Py_ssize_t judged, wrong_count
    cdef public bint want_masked
    cdef public str who

    @cython.locals(evidence=list)
    cpdef frame(self, WsFrame e)
