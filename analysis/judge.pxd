# C types for judge.py on the compiled path (setup.py; Cython's augmenting .pxd): the .py stays the one source and runs
# as it is on the pure path. A class declared here is an extension type there: every attribute its __init__ sets must
# be declared, and nothing may be added to it or its methods replaced at run time.
cimport cython
from _duplexlab_built.events cimport Event, Http1Request, Http1Response  # (fields read in C: _speed.CIMPORTS)

cdef class _Open:
    cdef public object conn, shared, traits
    cdef public dict checks, handlers, ready
    cdef public set active

cpdef _deliver_event(dict open_, Event e)
@cython.locals(handlers=object)
cpdef _deliver(_Open o, Event e)
cpdef _ready(_Open o, kind)
cpdef _by_family(_Open o, kind, str family)
@cython.locals(upgrade=str)
cpdef str _request_family(Http1Request e)
@cython.locals(content_type=str, upgrade=str)
cpdef str _response_family(Http1Response e)
