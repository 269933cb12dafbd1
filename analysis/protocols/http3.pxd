# C types for http3.py on the compiled path (setup.py; Cython's augmenting .pxd): the .py stays the one source and
# runs as it is on the pure path. A class declared here is an extension type there: every attribute its __init__
# sets must be declared, and nothing may be added to it at run time (a test that watches its methods subclasses it);
# a stream half lives only inside it (never pickled). Frame lengths a peer writes fit in 62 bits.
cimport cython

from _duplexlab_built.wire._capi cimport item as _c_item  # (compiled only: http3.py calls it under ``_COMPILED``)

cdef class _Half:
    cdef public object buf, data_at
    cdef public str kind
    cdef public bint started
    cdef public long long skip, need, data_left, data_len

# The reader of one connection: the router (dissect's _route_quic, which cimports it) hands it each item in C, and
# _data reads and writes its state as C fields. Its bytes held unparsed are bounded (MAX_HELD_UNPARSED).
cdef class Http3Connection:
    cdef public object conn, out, carried, mark
    cdef public dict halves, busy, settings, decoders, encoder_backlog, blocked, encoder_lost
    cdef public set wt_streams
    cdef public list waiting
    cdef public long long held, waiting_bytes
    cdef public bint spoke

    cpdef item(self, x)

@cython.locals(half=_Half, fin=bint, fed=Py_ssize_t, left=Py_ssize_t, halves=dict)
cpdef _data(Http3Connection h3, x)
