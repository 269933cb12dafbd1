# C types for dissect.py on the compiled path (setup.py; Cython's augmenting .pxd): the .py stays the one source and
# runs as it is on the pure path. A class declared here is an extension type there: every attribute its __init__
# sets must be declared, and nothing may be added to it or its methods replaced at run time (tests subclass it).
cimport cython
# (the Reassembler's fast lane called in C, its Lane's fields read in C: _speed.CIMPORTS; under names of their own, so
# that the module's Reassembler stays the name the .py imports, which tests replace by a subclass)
from _duplexlab_built.wire.tcp cimport Lane as _Lane, Reassembler as _Reassembler
from _duplexlab_built.protocols.http1 cimport Http1Connection
from _duplexlab_built.events cimport Event
# (decode's read of the common UDP frame, called in C by the frame loop)
from _duplexlab_built.wire.decode cimport _ethernet_udp
# (compiled only: _lane_step, _release and _route_quic call them under ``_COMPILED``)
from _duplexlab_built.wire._capi cimport clear as _c_clear, cut as _c_cut, item as _c_item

cdef class _Router:
    cdef public object conn, held, joined_mid, keylog, opened, parser, swap
    cdef public list out, pending
    cdef public bint flip, unsure

@cython.locals(pending=list, mark=object, cut=Py_ssize_t, released=list, n=Py_ssize_t, h1=Http1Connection, e=Event,
               later=Event)
cpdef list _release(_Router router, bint final=*)

@cython.locals(h1=Http1Connection)
cpdef bint _lane_bytes(_Router router, direction, payload, ts, number, fallback)

@cython.locals(ethertype=int, vihl=int, proto=int, flags=int, total=Py_ssize_t, frag=int, doff=int,
               start=Py_ssize_t, end=Py_ssize_t, true_len=Py_ssize_t, seq=cython.ulonglong, ack=cython.ulonglong,
               lane=_Lane)
cpdef object _lane_step(bytes data, number, ts, wirelen, _Reassembler tcp, dict routers, owner, fallback)

@cython.locals(router=_Router)
cpdef list _route_quic(list items, dict routers)
