# C types for http1.py on the compiled path (setup.py; Cython's augmenting .pxd): the .py stays the one source and
# runs as it is on the pure path. The checks and the Exchanges tracker stay Python classes (subclasses of Check and
# Tracker); the tracker's state and its work per event are the extension types declared here, with C-typed fields
# (pickled by their __reduce__ as plain values, which either path reads).
cimport cython
from _duplexlab_built.events cimport Http1End, Http1Request, Http1Response  # (fields read in C: _speed.CIMPORTS)

cdef Py_ssize_t _FRAME, _TS, _INDEX, _HAS_BODY, _METHOD, _END_TS
cdef Py_ssize_t _POLLS_KEPT, _CLIENTS_KEPT

cdef class _Order:
    cdef public object check, pending_408
    cdef public list evidence
    cdef public Py_ssize_t requests, finals, judged
    cdef public bint mid

    cpdef request(self, Http1Request e)
    @cython.locals(evidence=list)
    cpdef response(self, Http1Response e)

cdef class _Client:
    cdef public Py_ssize_t conns, outstanding
    cdef public list unreachable

cdef class _Conn:
    cdef public list waiting
    cdef public Py_ssize_t requests, answering
    cdef public object req_end
    cdef public _Client client
    cdef public str poll_client

cdef class _Tally:
    cdef public dict conns, clients, client_of, statuses
    cdef public Py_ssize_t requests, finals, interim, upgrades, overlap, plain, depth, reuse
    cdef public list depth_frames, reuse_frames, overlap_frames, polls
    cdef public object reuse_conn, post_frame, last_conn
    cdef public _Conn last

    @cython.locals(c=_Conn, clients=dict, client=_Client)
    cpdef _Conn _conn(self, conn)
    @cython.locals(c=_Conn, client=_Client, unreachable=list, polls=list, waiting=list, reuse_frames=list,
                   requests=Py_ssize_t)
    cpdef request(self, Http1Request e)
    @cython.locals(c=_Conn, statuses=dict, waiting=list, ex=list, polls=list, content_type=str)
    cpdef response(self, Http1Response e)
    @cython.locals(c=_Conn, ex=list, client=_Client, answering=Py_ssize_t)
    cpdef end(self, Http1End e)
    @cython.locals(c=_Conn, client=_Client)
    cpdef ended(self, conn)

cpdef _blind(list polls, Py_ssize_t poll, window)
