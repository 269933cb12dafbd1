# C types for http1.py on the compiled path (setup.py; Cython's augmenting .pxd): the .py stays the one source and
# runs as it is on the pure path. No class is declared here: the Exchanges tracker and what it holds are pickled
# (-j), so they stay Python objects; its work per event is done by the module functions typed below, and its state
# is held in lists read by the C-typed indexes declared here.
cimport cython

cdef Py_ssize_t _WAITING, _REQUESTS, _REQ_END, _ANSWERING, _CLIENT, _POLL_CLIENT
cdef Py_ssize_t _CONNS, _OUTSTANDING, _UNREACHABLE
cdef Py_ssize_t _FRAME, _TS, _INDEX, _HAS_BODY, _METHOD, _END_TS

@cython.locals(conns=dict, clients=dict, c=list, client=list, client_of=dict)
cpdef list _conn(x, conn)
@cython.locals(c=list, client=list, unreachable=list, polls=list, waiting=list, reuse_frames=list)
cpdef _request(x, e)
@cython.locals(c=list, keys=dict, codes=dict, waiting=list, ex=list, polls=list)
cpdef _response(x, e)
@cython.locals(c=list, ex=list, client=list)
cpdef _end(x, e)
cpdef _blind(list polls, Py_ssize_t poll, window)
cpdef str _status_key(status)
