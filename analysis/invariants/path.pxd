# C types for path.py on the compiled path (setup.py; Cython's augmenting .pxd): the .py stays the one source and
# runs as it is on the pure path. A class declared here is an extension type there: every attribute its __init__
# sets is declared, and nothing may be added to it (a test subclasses it instead). The recorder is pickled with its
# judge (-j) by its __reduce__, as its fields' values.
cimport cython
from _duplexlab_built.events cimport Event  # (fields read in C: _speed.CIMPORTS)

cdef Py_ssize_t _UNSURE, _LEG

cdef class PathRecorder:
    cdef public dict clients, conns, ends, events, exchanges, facts, servers
    cdef public set too_long

    @cython.locals(events=dict, kept=list, n=Py_ssize_t)
    cpdef feed(self, Event e)
    cpdef bint _leg(self, conn)
