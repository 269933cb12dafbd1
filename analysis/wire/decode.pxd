# C types for decode.py on the compiled path (setup.py; Cython's augmenting .pxd): the .py stays the one source and
# runs as it is on the pure path. The common UDP frame's header fields are read as C integers (``_TYPED``).
cimport cython

from _duplexlab_built.wire._capi cimport cut as _c_cut, tuple2 as _c_tuple2  # (compiled only: the .py calls them under ``_TYPED``)

@cython.locals(ethertype=cython.int, vihl=cython.int, proto=cython.int, total=Py_ssize_t, frag=cython.int,
               ulen=Py_ssize_t)
cpdef object _ethernet_udp(bytes data)

cpdef object _datagram(data, Py_ssize_t start, Py_ssize_t end, bytes key, Py_ssize_t ulen)
