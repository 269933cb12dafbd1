# C types for common.py on the compiled path (setup.py; Cython's augmenting .pxd): the .py stays the one source and
# runs as it is on the pure path. Unprompted is not declared: the trackers that hold one are pickled (-j), so it
# stays a Python object; its work per message is the module function below, which its methods call in C. A syntax
# check's count of the messages read (_Reads) is an extension type: it lives with its connection, never pickled.
cimport cython

cpdef _message(u, key, direction, frame)

cdef class _Reads:
    cdef public list evidence
    cdef public Py_ssize_t judged

    @cython.locals(evidence=list)
    cpdef read(self, e)
