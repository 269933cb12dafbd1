"""What the lab runs: its protocols, its deliberate misbehaviours, and what each capture shows.

The notes travel inside each pcapng as its capture comment, so a person who opens the file
in Wireshark (Statistics → Capture File Properties) reads which scenario made it and what
to look for.
"""

from __future__ import annotations

LAB_PROTOCOLS = ("http1", "websocket", "sse", "http2", "h2push", "grpc", "longpoll", "http1-duplex", "websocket-tls",
                 "http2-tls", "sse-tls", "grpc-tls", "http3", "webtransport", "websocket-h2", "sse-h2")

# Scenarios judged as another protocol: the TLS variants carry the same protocol, encrypted.
JUDGED_AS = {"websocket-tls": "websocket", "http2-tls": "http2", "sse-tls": "sse", "grpc-tls": "grpc"}
# Scenarios whose client writes its TLS secrets, which the lab embeds in the capture (QUIC is always encrypted).
TLS_SCENARIOS = (*JUDGED_AS, "http3", "webtransport")

# The misbehave profile: each deliberately wrong peer pair, the protocol it is judged as,
# and the invariants it must trip (services/misbehave/ holds the peers).
MISBEHAVIOURS = {
    "early-answer": ("http1", ("http1.client-speaks-first", "http1.response-follows-request")),
    "double-answer": ("http1", ("http1.response-follows-request",)),
    "masked-ws": ("websocket", ("websocket.client-frames-masked", "websocket.server-frames-unmasked")),
    "chatty-sse": ("sse", ("sse.client-silent",)),
}

NOTES = {
    "http1": "duplexlab http1: keep-alive GETs and a POST, then two pipelined GETs on a second connection. "
             "Look for: every response follows a request (filter: http).",
    "websocket": "duplexlab websocket: Upgrade then 101, server 'tick' frames sent on a timer with no client "
                 "frame before them, masked client frames, clean close. Look for: websocket && ip.src == server.",
    "sse": "duplexlab sse: one GET, one text/event-stream response, 6 events 0.3 s apart; the client only ACKs. "
           "Look for: per-event frames with -o http.desegment_body:FALSE.",
    "http2": "duplexlab http2: h2c prior knowledge, three concurrent GETs with interleaved DATA, and a POST "
             "answered before its body ends. Look for: http2.type == 0.",
    "h2push": "duplexlab h2push: nghttpd pushes /style.css (PUSH_PROMISE then stream 2); a second connection "
              "with SETTINGS_ENABLE_PUSH=0 gets none. Look for: http2.type == 5.",
    "grpc": "duplexlab grpc: one bidirectional stream; the server sends 'tick' messages before the client "
            "half-closes. Look for: grpc.",
    "longpoll": "duplexlab longpoll: four GET /poll held open 0.6 s each until an event (the server makes one 0.6 s "
                "after a poll starts waiting), then a ~50 ms blind window. Look for: http.time.",
    "http1-duplex": "duplexlab http1-duplex: one POST whose chunked body goes out a piece every 0.3 s while the "
                    "server answers each piece as it arrives; the response starts before the request ends (legal "
                    "HTTP/1.1). Look for: http.request vs http.response times, -o http.desegment_body:FALSE.",
    "websocket-tls": "duplexlab websocket-tls: the websocket scenario over TLS (wss on 443); the session keys are "
                     "embedded in this file, so Wireshark decrypts it with no settings. Look for: websocket.",
    "http2-tls": "duplexlab http2-tls: the http2 scenario over TLS, h2 chosen by ALPN; the session keys are "
                 "embedded in this file. Look for: tls.handshake.extensions_alpn_str, http2.",
    "sse-tls": "duplexlab sse-tls: the sse scenario over TLS (https on 443); the session keys are embedded in this "
               "file. Look for: per-event frames with -o http.desegment_body:FALSE -Y http.",
    "grpc-tls": "duplexlab grpc-tls: the grpc scenario over TLS (h2 by ALPN, grpcio server, a client on the h2 "
                "library that logs its keys); the session keys are embedded in this file. Look for: grpc.",
    "sse-h2": "duplexlab sse-h2: an event stream on one HTTP/2 stream (h2c prior knowledge, hypercorn), 0.3 s apart, "
              "and a download on another stream of the same connection, its pieces written in step with the events. "
              "Look for: -d tcp.port==8080,http2 -Y http2.type == 0 (DATA of two streams alternating).",
    "http3": "duplexlab http3: HTTP/3 over QUIC (UDP 443), keys embedded. One connection: GET /stream answered "
             "by 8 DATA frames 0.2 s apart with three GETs beside it, answered in step (3 DATA frames each), and "
             "GET /page answered with a push "
             "of /style.css (PUSH_PROMISE on the request stream, then a push stream); a second connection whose "
             "client sent no MAX_PUSH_ID gets /page with no push. Look for: http3.frame_type, quic.stream.stream_id.",
    "webtransport": "duplexlab webtransport: an extended CONNECT (:protocol webtransport) opens a session; the "
                    "server then opens a unidirectional and a bidirectional stream (id 1) and talks on them "
                    "unasked; the client answers on the bidirectional one. tshark shows nothing inside "
                    "server-initiated bidirectional streams; duplexlab reads them itself. Look for: quic.stream.",
    "websocket-h2": "duplexlab websocket-h2: WebSocket over one HTTP/2 stream (RFC 8441), h2c to hypercorn: the "
                    "server's SETTINGS_ENABLE_CONNECT_PROTOCOL=1, then the client's CONNECT with :protocol websocket; "
                    "inside the stream's DATA, the websocket scenario (server ticks unasked, masked client frames). "
                    "Look for: http2.settings.id == 8, http2.header.name == \":protocol\".",
    "early-answer": "duplexlab misbehave: the server answers before it is asked (violates "
                    "http1.client-speaks-first).",
    "double-answer": "duplexlab misbehave: two responses to one request (violates http1.response-follows-request).",
    "masked-ws": "duplexlab misbehave: the server masks its WebSocket frames, the client does not.",
    "chatty-sse": "duplexlab misbehave: the SSE client talks back into its event stream (violates sse.client-silent).",
}
