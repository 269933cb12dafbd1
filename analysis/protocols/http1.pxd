# C types for http1.py on the compiled path (setup.py; Cython's augmenting .pxd): the .py stays the one source and
# runs as it is on the pure path. A class declared here is an extension type there: every attribute its __init__
# sets must be declared, and nothing may be added to it or its methods replaced at run time (tests subclass it).
# Numbers a peer writes (a Content-Length, a chunk size) stay Python integers: they may be any size.
cimport cython
from _duplexlab_built.events cimport (Http1Request, Http1Response, new_http1_body, new_http1_end, new_http1_request,
                                      new_http1_response)  # (events built in C: _speed.CIMPORTS)
from _duplexlab_built.protocols.websocket cimport WsParser
# (compiled only: the .py calls them under ``_COMPILED``)
from _duplexlab_built.wire._capi cimport (bare_lf as _c_bare_lf, ctl_ws as _c_ctl_ws, cut as _c_cut, find as _c_find,
                                          latin1 as _c_latin1, same as _c_same)
from _duplexlab_built.wire.stream cimport Stream as _Stream  # (its buffer read in C; the .py's Stream stays the name)  # (after an upgrade its parsers called in C: _speed.CIMPORTS)

cdef class _Side:
    cdef public object direction, draft, sink, remaining
    cdef public _Stream stream
    cdef public str state, framing, chunk_state
    cdef public tuple start, head_end, last
    cdef public Py_ssize_t body, count

cdef class Http1Connection:
    cdef public object conn, conn_id, upgrade_pending, h2
    cdef public list out, unanswered
    cdef public dict sides, upgraded, ws
    cdef public str _app
    cdef _Side _client, _server

    @cython.locals(side=_Side, empty=bint, parser=WsParser, stream=_Stream)
    cpdef feed(self, direction, data, ts, frame)
    @cython.locals(take=object, lines=list, line=bytes, end=Py_ssize_t,
                   eol=Py_ssize_t, at=Py_ssize_t, h=list)
    cpdef _whole(self, _Side side, bytes data, ts, frame)
    @cython.locals(side=_Side, parser=WsParser)
    cpdef pending_frame(self)
    @cython.locals(s=_Stream)
    cpdef _run(self, _Side side)
    @cython.locals(s=_Stream)
    cpdef bint _head(self, _Side side)
    @cython.locals(parsed=tuple, index=Py_ssize_t, method=str, target=str, version=str, chunked=bint)
    cpdef bint _request(self, _Side side, bytes data, Py_ssize_t eol, list h, ts, frame)
    @cython.locals(parsed=tuple, content_type=str, chunked=bint, index=Py_ssize_t, unanswered=list, version=str,
                   upgrade=object)
    cpdef bint _response(self, _Side side, bytes data, Py_ssize_t eol, list h, ts, frame)
    cpdef _start_body(self, _Side side, str framing, length)
    @cython.locals(s=_Stream)
    cpdef bint _body(self, _Side side)
    cpdef _emit_body(self, _Side side, Py_ssize_t pos, Py_ssize_t n, bint goes_on)
    cpdef _end_message(self, _Side side, tuple last)
    cpdef _abandon(self, _Side side)

@cython.locals(out=list, i=Py_ssize_t, line=bytes)
cpdef list _headers(list lines)
@cython.locals(out=list, stop=Py_ssize_t)
cpdef list _headers_at(bytes data, Py_ssize_t pos, Py_ssize_t end)
@cython.locals(known=dict, line=bytes, first=int, name=bytes, value=bytes, k=Py_ssize_t, val=str, field=tuple,
               start=Py_ssize_t, recent=list, slot=Py_ssize_t, hit=tuple, before=object)
cpdef _header_line(list out, bytes data, Py_ssize_t s, Py_ssize_t stop)
cdef Py_ssize_t _LENGTH, _TE, _CONNECTION, _UPGRADE, _CTYPE
cdef Py_ssize_t _LINE_KEPT, _RECENT_MASK
cpdef Py_ssize_t _field(bytes name)
@cython.locals(methods=dict, parts=list, sp1=Py_ssize_t, sp2=Py_ssize_t, raw=bytes, method=object)
cpdef tuple _request_line(bytes data, Py_ssize_t end)
@cython.locals(minor=int, d0=int, d1=int, d2=int)
cpdef tuple _status_line(bytes data, Py_ssize_t end)
@cython.locals(tokens=dict, text=str)
cpdef str _token(bytes raw)
@cython.locals(cache=dict, lowered=str)
cpdef str _lowered(str value)
@cython.locals(n=cython.longlong)
cpdef object _content_length(raw)
@cython.locals(n=cython.longlong, ch=cython.Py_UCS4)
cpdef long long _digits(str raw)
