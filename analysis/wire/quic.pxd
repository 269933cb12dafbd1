# C types for quic.py on the compiled path (setup.py; Cython's augmenting .pxd): the .py stays the one source and
# runs as it is on the pure path. A class declared here is an extension type there: every attribute its __init__
# sets must be declared, and nothing may be added to it or its methods replaced at run time. QuicReader stays a
# Python class (tests wrap its methods). Offsets and numbers a peer writes fit in 62 bits (RFC 9000 §16).
cimport cython

from _duplexlab_built.wire._capi cimport cut as _c_cut, tuple7 as _c_tuple7, item as _c_item  # (compiled only: the .py calls them under ``_COMPILED``)

@cython.locals(value=cython.longlong, end=Py_ssize_t)
cpdef tuple varint(buf, Py_ssize_t pos)

# C integers in and out for the frame walk (a 62-bit value fits a long long).
@cython.locals(first=cython.int)
cpdef (long long, Py_ssize_t) _varint(bytes buf, Py_ssize_t pos)

cdef class Ranges:
    cdef public list spans
    cdef public bint full

    # numbers below 2**63: packet numbers and stream numbers (62 bits, RFC 9000 §16) and one past them
    @cython.locals(i=Py_ssize_t, j=Py_ssize_t, last=list, lo=cython.longlong, hi=cython.longlong)
    cpdef add(self, long long start, long long end)

cdef class _Recv:
    cdef public long long next, held
    cdef public object final
    cdef public dict pending

    @cython.locals(end=cython.longlong, pending=dict, out=list)
    cpdef list add(self, long long offset, bytes data, bint fin)
    cpdef bint done(self)

cdef class _QConn:
    cdef public object info, odcid, random, suite, id, lane_c2s, lane_s2c
    cdef public bytes client
    cdef public dict keys, largest, crypto, hello, streams, finished, held, acked
    cdef public set closed
    cdef public list early
    cdef public long long out_of_order, opened_1rtt, failed_1rtt
    cdef public long long packets_c2s, packets_s2c, bytes_c2s, bytes_s2c, payload_c2s, payload_s2c
    cdef public long long largest_c2s, largest_s2c
    cdef public int cid_c2s, cid_s2c, phase_c2s, phase_s2c
    cdef public bint unread

@cython.locals(pos=Py_ssize_t, n=Py_ssize_t, ftype=cython.longlong, length=cython.longlong, rlen=cython.longlong,
               sid=cython.longlong, off=cython.longlong, acked=Ranges)
cpdef _frames(reader, _QConn qc, direction, str space, bytes p, frame, ts, list out)

@cython.locals(key=bytes, payload=bytes, qc=_QConn, conns=dict)
cpdef list _feed(reader, frame, ts, dg)

@cython.locals(pos=Py_ssize_t, first=cython.int, p=Py_ssize_t, end=Py_ssize_t, packet=bytes, sd=tuple,
               dcid_len=Py_ssize_t, scid_len=Py_ssize_t, phase=cython.int)
cpdef _datagram(reader, _QConn qc, direction, bytes d, frame, ts, list out)

@cython.locals(sd=tuple, held=Ranges)
cpdef _opened(reader, _QConn qc, direction, str space, long long pn, bytes plain, frame, ts, list out)

cpdef long long _largest(_QConn qc, tuple sd)

cpdef long long _stream_key(direction, long long sid)

@cython.locals(recv=_Recv, before=cython.longlong, held=cython.longlong, pieces=list, last=Py_ssize_t, i=Py_ssize_t,
               key=cython.longlong)
cpdef _stream(_QConn qc, direction, long long sid, long long off, bytes data, bint fin, frame, ts, list out)

cpdef _finished(_QConn qc, direction, long long sid)

cpdef _stream_data(conn, direction, sid, bytes data, bint fin, ts, frame)

cpdef _settle(_QConn qc)
