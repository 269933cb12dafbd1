# C types for recognise.py on the compiled path (setup.py; Cython's augmenting .pxd): the .py stays the one source and
# runs as it is on the pure path. A class declared here is an extension type there: every attribute its __init__
# sets must be declared, and nothing may be added to it or its methods replaced at run time. (Traits lives in an
# open connection's judge state only: it is never pickled.)
cimport cython
from _duplexlab_built.events cimport H2Frame, Http1End, Http1Request, Http1Response  # (read in C: _speed.CIMPORTS)

cdef class Traits:
    cdef public bint answered, client_spoke, event_stream, h2c_switched, http1, mid, push, webtransport, ws_asked
    cdef public Py_ssize_t finals, requests, req_end
    cdef public set carried
    cdef public object h2c_request, holes, last_request

    cpdef _h2_frame(self, H2Frame e)
    @cython.locals(upgrade=str)
    cpdef _request(self, Http1Request e)
    @cython.locals(content_type=str, upgrade=str)
    cpdef _response(self, Http1Response e)
    cpdef _end(self, Http1End e)
