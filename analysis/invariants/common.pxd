# C types for common.py on the compiled path (setup.py; Cython's augmenting .pxd): the .py stays the one source and
# runs as it is on the pure path. Unprompted is an extension type there: the trackers that hold one are pickled (-j),
# and it pickles as its fields' values (``__reduce__``); its work per message is the module function below, which
# its methods call in C. A syntax check's count of the messages read (_Reads) is an extension type: it lives with its
# connection, never pickled.
cimport cython
from _duplexlab_built.events cimport Event, WsFrame  # (fields read in C: _speed.CIMPORTS)

cdef class Unprompted:
    cdef public dict prompted
    cdef public Py_ssize_t count
    cdef public list frames

    cpdef frame(self, WsFrame e)

cpdef _message(Unprompted u, key, direction, frame)

cdef class _Reads:
    cdef public list evidence
    cdef public Py_ssize_t judged

    @cython.locals(evidence=list)
    cpdef read(self, Event e)
