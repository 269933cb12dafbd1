# C types for tcp.py on the compiled path (setup.py; Cython's augmenting .pxd): the .py stays the one source and
# runs as it is on the pure path. A class declared here is an extension type there: every attribute its __init__
# sets must be declared, and nothing may be added to it or its methods replaced at run time (tests subclass it).
cimport cython
# (compiled only: the .py calls them under ``_COMPILED``)
from _duplexlab_built.wire._capi cimport cut as _c_cut, same as _c_same, slot12 as _c_slot12

cdef long long _SPACE, _HALF_SPACE, _MASK, _ACK
cdef Py_ssize_t _UNACKED_LIMIT, _KEEP_MAX
cdef int _RECENT_BITS

cdef class _Half:
    cdef public object base, ooo, recent, unacked
    cdef public long long next, ooo_bytes, last, ack_count
    cdef public double ack_sum
    cdef public bint fin, started

    @cython.locals(nxt=cython.longlong, base=cython.longlong, rel=cython.longlong, cand=cython.longlong)
    cpdef long long offset(self, long long seq)
    cpdef keep(self, data, frame)

@cython.locals(upto=cython.longlong, unacked=object, sent=cython.double)
cpdef _time_acks(_Half half, long long ack, double ts)

cdef class Lane:
    cdef public object conn, conn_id, direction, info
    cdef public bytes wkey
    cdef public long long n_packets, n_payload, n_wire, last_frame
    cdef public double last_ts
    cdef public _Half half, other

cdef class Reassembler:
    cdef public long long max_open, evicted, _count, late_segments, late_payload, attempts_peak, _stale, idle_ended
    cdef public long long conflicts
    cdef public object _conns, _by_id, _ended, _attempts, _answers, _idle, _new, conflict_frames
    cdef public dict lanes
    cdef public list _recent
    cdef public bint _finishing
    cdef public double idle_timeout

    @cython.locals(i=Py_ssize_t, lane=Lane, recent=list)
    cpdef Lane lane_of(self, bytes data)

    @cython.locals(i=Py_ssize_t, j=Py_ssize_t, lane=Lane, recent=list)
    cpdef _forget(self, bytes wkey)

    @cython.locals(half=_Half, direction=object, recent=object, base=cython.longlong)
    cpdef object fast(self, Lane lane, long long frame, double ts, long long seq, long long ack, long long flags,
                      Py_ssize_t true_len, long long wire_len, bytes data, Py_ssize_t start)
