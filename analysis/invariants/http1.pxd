# C types for http1.py on the compiled path (setup.py; Cython's augmenting .pxd): the .py stays the one source and
# runs as it is on the pure path. No class is declared here: the Exchanges tracker and what it holds are pickled
# (-j), so they stay Python classes; its work per event is done by the module functions typed below.
cimport cython

@cython.locals(conns=dict, outstanding=list, unreachable=list, polls=list, reuse_frames=list)
cpdef _request(x, e)
@cython.locals(conns=dict, keys=dict, codes=dict, outstanding=list, ex=list, polls=list)
cpdef _response(x, e)
@cython.locals(conns=dict, ex=list, client=object)
cpdef _end(x, e)
cpdef _blind(list polls, Py_ssize_t poll, window)
cpdef str _status_key(status)
