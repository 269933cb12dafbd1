# C types for measures.py on the compiled path (setup.py; Cython's augmenting .pxd): the .py stays the one source and
# runs as it is on the pure path. A class declared here is an extension type there: every attribute its __init__
# sets must be declared, and nothing may be added to it or its methods replaced at run time. (Measures itself is
# pickled with its judge and stays a Python object; its WebSocket frame counts, _FrameCounts, pickle by __reduce__.)
cimport cython
from _duplexlab_built.events cimport WsFrame  # (fields read in C: _speed.CIMPORTS)

cdef class _FrameCounts:
    cdef public dict c2s, s2c

    @cython.locals(counts=dict)
    cpdef count(self, WsFrame e)
