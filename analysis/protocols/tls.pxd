# C types for tls.py on the compiled path (setup.py; Cython's augmenting .pxd): the .py stays the one source and
# runs as it is on the pure path. A class declared here is an extension type there: every attribute its __init__
# sets must be declared, and nothing may be added to it or its methods replaced at run time (tests subclass it).
cimport cython
# (the inner HTTP/1.x parser and a record's keys called in C: _speed.CIMPORTS)
from _duplexlab_built.protocols.http1 cimport Http1Connection
from _duplexlab_built.wire.tls cimport RecordKeys as _Keys
from _duplexlab_built.wire._capi cimport cut as _c_cut  # (compiled only: the .py calls it under ``_COMPILED``)

cdef Py_ssize_t _RECORD_MAX
cdef int CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA  # (imported from wire.tls: C ints here)

cdef class _Side:
    cdef public object stream, keys, app_keys, pending12
    cdef public bytearray hs
    cdef public bint encrypted, trial, lost
    cdef public Py_ssize_t skipped

cdef class TlsConnection:
    cdef public object conn, keylog, inner, hello, shello
    cdef public list out, gaps, facts
    cdef public dict sides, trial_first, unread
    cdef public str alpn, failure, bad_record
    cdef public Py_ssize_t data_records, client_plaintext
    cdef public bint alpn_read, spoke, direct

    @cython.locals(side=_Side, at=Py_ssize_t)
    cpdef feed(self, direction, data, ts, frame)
    @cython.locals(at=Py_ssize_t, n=Py_ssize_t, end=Py_ssize_t, record=bytes)
    cpdef Py_ssize_t _whole(self, direction, _Side side, bytes data, ts, frame) except? -2
    @cython.locals(side=_Side, h1=Http1Connection)
    cpdef pending_frame(self)
    @cython.locals(ctype=int, inner_type=int, keys=_Keys)
    cpdef _record(self, d, _Side side, bytes record, list marks)
    @cython.locals(n=Py_ssize_t, i=Py_ssize_t, at=Py_ssize_t, end=Py_ssize_t, cuts=list, h1=Http1Connection)
    cpdef _plaintext(self, d, bytes plain, Py_ssize_t start, list marks)
