# C types for websocket.py on the compiled path (setup.py; Cython's augmenting .pxd): the .py stays the one source and
# runs as it is on the pure path. A class declared here is an extension type there: every attribute its __init__
# sets must be declared, and nothing may be added to it or its methods replaced at run time (tests subclass it).
cimport cython
from _duplexlab_built.events cimport WsFrame, new_ws_frame  # (events built in C: _speed.CIMPORTS)

cdef tuple _GOOD_FIRST

cdef class WsParser:
    cdef public object conn, direction, out, _pending, stream
    cdef public Py_ssize_t _remaining
    cdef public bint broken

    cpdef feed(self, data, ts, frame)  # ts and frame stay the objects they came as: each frame's event holds them
    @cython.locals(i=Py_ssize_t, n=Py_ssize_t, b0=int, b1=int, size=Py_ssize_t, length=Py_ssize_t, here=Py_ssize_t)
    cpdef _frames(self, data, ts, frame)
    cpdef pending_frame(self)

@cython.locals(avail=Py_ssize_t, b0=int, b1=int, n=Py_ssize_t, size=Py_ssize_t)
cpdef tuple _header(buf, Py_ssize_t i)

cpdef WsFrame _made(list args)
