# C types for events.py on the compiled path (setup.py; Cython's augmenting .pxd): every event class an extension
# type, a Cython dataclass (events.py's docstring). Its fields are Python objects, as on the pure path (a test may
# build an event with any value; a C-typed field would convert or refuse it). A compiled module cimports the classes
# it reads (``from _duplexlab_built.events cimport Http1Request``: _speed.CIMPORTS) and the ``new_*`` makers.
cimport cython
from _duplexlab_built.wire._capi cimport untrack as _c_untrack  # (compiled only: the .py calls it under ``_COMPILED``)

cdef class Event:
    cdef public object ts, frame, conn, direction

cdef class Http1Request(Event):
    cdef public object index, method, target, version, upgrade, has_body

cdef class Http1Response(Event):
    cdef public object index, status, version, content_type, upgrade, chunked, closes

cdef class Http1End(Event):
    cdef public object index, start_frame, body_bytes

cdef class Http1Body(Event):
    cdef public object index, offset, end_ts, end_frame

cdef class WsFrame(Event):
    cdef public object opcode, fin, masked, rsv1, length, end_frame, end_ts

cdef class SseEvent(Event):
    cdef public object response_frame, event_type, event_id, data_bytes, comment, end_ts, end_frame, stream

cdef class EventStreamOpened(Event):
    cdef public object stream, status, answers, unknown

cdef class AppData(Event):
    cdef public object size, stream, unknown

cdef class StreamGap(Event):
    cdef public object missing, after, start, cut, framed

cdef class StreamConflict(Event):
    cdef public object first, size

cdef class Undecodable(Event):
    cdef public object protocol, reason, cause

cdef class TcpClose(Event):
    cdef public object how

cdef class H2Preface(Event):
    pass

cdef class H2Frame(Event):
    cdef public object ftype, flags, stream, length, end_frame, promised, enable_push, end_ts, connect_protocol
    cdef public object closes, untracked, let_go

cdef class H2Headers(Event):
    cdef public object stream, promised, method, path, status, content_type, end_stream, protocol, untracked

cdef class GrpcMessage(Event):
    cdef public object stream, length, compressed, end_frame

cdef class QuicStream(Event):
    cdef public object stream_id, kind, push_id, session

cdef class H3Frame(Event):
    cdef public object stream_id, ftype, length, end_ts, end_frame, value, settings, fields

cdef class WtData(Event):
    cdef public object stream_id, size, fin

cdef class QuicClose(Event):
    cdef public object error, reason, app

cdef inline _place(Event e, ts, frame, conn, direction)
@cython.locals(e=Http1Request)
cpdef Http1Request new_http1_request(ts, frame, conn, direction, index, method, target, version, upgrade, has_body)
@cython.locals(e=Http1Response)
cpdef Http1Response new_http1_response(ts, frame, conn, direction, index, status, version, content_type, upgrade,
                                       chunked, closes)
@cython.locals(e=Http1End)
cpdef Http1End new_http1_end(ts, frame, conn, direction, index, start_frame, body_bytes)
@cython.locals(e=Http1Body)
cpdef Http1Body new_http1_body(ts, frame, conn, direction, index, offset, end_ts, end_frame)
@cython.locals(e=WsFrame)
cpdef WsFrame new_ws_frame(ts, frame, conn, direction, opcode, fin, masked, rsv1, length, end_frame, end_ts)
