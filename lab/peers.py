"""The interop grid's peers: which implementation serves or speaks which protocol, how it is started, and why a cell
that cannot exist does not (``make grid``; lab/grid.py runs the cells).

Servers listen on 8080 in cleartext; for Chromium, which the grid drives over TLS only, on 8443 (the lab's own TLS
servers on 443); HTTP/3 servers on UDP (the lab's 443, Caddy 8443) whatever the client. Every third-party
peer is a small program in grid/peers/ on its implementation's own API, in the
image ``duplexlab-grid-peers`` (grid/Dockerfile); the lab's own peers are services/, in ``duplexlab-grid-lab``.
A fault peer breaks one rule on purpose, and its cell passes only if the invariant that names the rule fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PEERS_IMAGE = "duplexlab-grid-peers:latest"
PROXIES_IMAGE = "duplexlab-grid-proxies:latest"  # services/proxies (the lab's nginx and HAProxy configs)
LAB_IMAGE = "duplexlab-grid-lab:latest"
CAPTURE_IMAGE = "duplexlab-grid-capture:latest"

# The grid's protocols, in the order its page shows them. socketio is Socket.IO (long polling, then the upgrade).
PROTOCOLS = ("http1", "sse", "longpoll", "http1-duplex", "websocket", "websocket-h2", "http2", "h2push", "grpc",
             "socketio", "http3")
# How each is judged by analysis (the protocol name --protocol takes).
JUDGED_AS = {"socketio": "websocket"}
# The lab's service module per protocol (services/<module>/{server,client}.py).
_LAB_MODULE = {"http1": "http1", "sse": "sse", "longpoll": "longpoll", "http1-duplex": "duplex",
               "websocket": "websocket", "websocket-h2": "websocket_h2", "http2": "http2", "h2push": "h2push",
               "grpc": "grpc", "http3": "http3"}
_LAB_TLS = ("websocket", "http2")  # the lab servers with a TLS mode (TLS=1, port 443)


@dataclass(frozen=True)
class Run:
    """How one side of a cell runs: image, command, environment."""

    image: str
    command: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    port: int = 8080  # servers: where they listen for this cell
    sysctls: dict[str, str] = field(default_factory=dict)
    udp: bool = False  # servers: listening on UDP (QUIC), not TCP
    aliases: tuple[str, ...] = ()  # servers: more names on the grid's bridge (the name their certificate holds)


@dataclass(frozen=True)
class Peer:
    name: str
    implementation: str  # what it is, for the page: "Node.js 18 http2", "Apache httpd 2.4 mod_http2"
    protocols: tuple[str, ...]
    why_not: str  # one sentence: why it has no other protocol
    fault: dict[str, str] = field(default_factory=dict)  # protocol -> the invariant its fault breaks


SERVERS: dict[str, Peer] = {p.name: p for p in (
    Peer("lab", "duplexlab's own servers (services/: uvicorn, websockets, hypercorn, grpcio, nghttpd, aioquic)",
         tuple(_LAB_MODULE), "it has no Socket.IO server"),
    Peer("node", "Node.js (Debian's nodejs): http, https, http2 with pushStream and enableConnectProtocol, the ws "
         "package", ("http1", "sse", "longpoll", "http1-duplex", "websocket", "websocket-h2", "http2", "h2push"),
         "gRPC and Socket.IO are the grpcjs and socketio servers"),
    Peer("node-fault", "the Node.js ws server, masking its frames ({mask: true}) on purpose", ("websocket",),
         "its fault is a WebSocket one", {"websocket": "websocket.server-frames-unmasked"}),
    Peer("apache", "Apache httpd 2.4 (Debian's apache2) with mod_http2: h2c, H2Push, static files",
         ("http1", "http2", "h2push"), "it serves static files here: no event stream, long poll, upgrade or gRPC "
         "without an application behind it"),
    Peer("caddy", "Caddy 2.6 (Debian's caddy): HTTP/1.1, h2c and h2, static files; HTTP/3 (quic-go) with the lab's "
         "services/http3/Caddyfile", ("http1", "http2", "http3"),
         "it serves static files here, and Caddy 2 has no server push"),
    Peer("grpcjs", "grpc-js (npm @grpc/grpc-js), generic handlers", ("grpc",), "it speaks gRPC only"),
    Peer("aiohttp", "aiohttp (Debian's python3-aiohttp): WebSocketResponse, StreamResponse",
         ("websocket", "sse"), "the grid uses it for WebSocket and SSE only"),
    Peer("socketio", "Socket.IO 4.8 (npm socket.io) on node's http", ("socketio",), "it speaks Socket.IO only"),
)}

CLIENTS: dict[str, Peer] = {p.name: p for p in (
    Peer("lab", "duplexlab's own clients (services/*/client.py: httpx, websockets, h11, nghttp, grpcio, aioquic)",
         tuple(_LAB_MODULE), "it has no Socket.IO client"),
    Peer("curl", "curl (Debian's 7.88)", ("http1", "sse", "longpoll", "http1-duplex", "http2", "h2push"),
         "Debian's curl 7.88 is built without WebSocket support and without HTTP/3 (its --version lists no HTTP3 "
         "feature), and curl speaks neither gRPC nor Socket.IO"),
    Peer("node", "Node.js: undici fetch (duplex: 'half'), ws, http2, grpc-js, socket.io-client",
         ("http1", "sse", "longpoll", "http1-duplex", "websocket", "http2", "h2push", "grpc", "socketio"),
         "node's http2 client has no WebSocket over HTTP/2, ws speaks HTTP/1.1 only, and Node 18 has no QUIC"),
    Peer("node-fault", "node's http.get, then bytes written on its socket into the open event stream on purpose",
         ("sse",),
         "its fault is an SSE one", {"sse": "sse.client-silent"}),
    Peer("chromium", "headless Chromium (Debian's chromium) on the grid's page: fetch, EventSource, WebSocket, "
         "a streamed upload, socket.io's client; TLS with its keys in the capture",
         ("http1", "sse", "longpoll", "websocket", "websocket-h2", "http2", "h2push", "socketio", "http3"),
         "a browser cannot speak gRPC (only gRPC-Web), and streams a request body only over HTTP/2 (its streamed "
         "upload is in the http2 cell)"),
)}

# A third-party server that serves the page itself (same origin); the lab's servers do not: there Chromium opens the
# page from a data: URL, which only a WebSocket may leave (no CORS on it).
_SERVES_PAGE = ("node", "node-fault", "apache", "caddy", "aiohttp", "socketio")


def absent(protocol: str, server: str, client: str) -> str | None:
    """Why the cell cannot exist, or None when it can."""
    s, c = SERVERS[server], CLIENTS[client]
    if protocol not in s.protocols:
        return f"the {server} server has no {protocol}: {s.why_not}."
    if protocol not in c.protocols:
        return f"the {client} client has no {protocol}: {c.why_not}."
    if client == "chromium" and server not in _SERVES_PAGE and protocol != "http3":
        return (f"Chromium is driven over TLS from a page the server serves; the lab's {protocol} server serves no "
                "page (from a data: page, Chromium closed its TLS connection to the lab's WebSocket server right after "
                "the handshake, before any request: docs/grid.md).")
    if s.fault and c.fault:
        return "two fault peers together prove nothing about either."
    return None


def via_absent(protocol: str, client: str, via: str) -> str | None:
    """Why the cell cannot run through the proxy ``via`` (lab/via.py's table of what each proxy carries), or None."""
    from .via import CARRIES, WHY_NOT

    if protocol not in CARRIES[via]:
        return f"VIA={via} cannot carry {protocol}: {WHY_NOT.get(protocol, 'the proxy configs have no route for it')}."
    if tls(client):
        return (f"VIA={via} is cleartext, and the grid drives Chromium over TLS only (its keys in the capture); a "
                "proxy ending TLS would hide one leg's keys.")
    return None


def tls(client: str) -> bool:
    return client == "chromium"


def keyed(protocol: str, client: str) -> bool:
    """Whether the client writes its TLS keys for the capture: Chromium always, every HTTP/3 client (QUIC is TLS)."""
    return tls(client) or protocol == "http3"


# HTTP/3 servers: the lab's aioquic server on UDP 443 and Caddy with the lab's http3 Caddyfile on UDP 8443, both in the
# lab's image, whose certificate names http3-server (the server gets that name on the grid's bridge too).
H3_NAME = "http3-server"
_H3_SERVERS = {
    "lab": Run(LAB_IMAGE, ("python", "-m", "services.http3.server"), {}, 443,
               {"net.ipv4.ip_unprivileged_port_start": "0"}, udp=True, aliases=(H3_NAME,)),
    "caddy": Run(LAB_IMAGE, ("caddy", "run", "--config", "/app/services/http3/Caddyfile", "--adapter", "caddyfile"),
                 {"XDG_DATA_HOME": "/tmp", "XDG_CONFIG_HOME": "/tmp"}, 8443, udp=True, aliases=(H3_NAME,)),
}


def server_run(protocol: str, server: str, client: str) -> Run:
    if protocol == "http3":
        return _H3_SERVERS[server]
    secure = tls(client)
    port = 8443 if secure else 8080
    env = {"PROTO": protocol, **({"TLS": "1"} if secure else {})}
    if server == "lab":
        if secure:
            assert protocol in _LAB_TLS
            return Run(LAB_IMAGE, ("python", "-m", f"services.{_LAB_MODULE[protocol]}.server"), {"TLS": "1"}, 443,
                       {"net.ipv4.ip_unprivileged_port_start": "0"})
        return Run(LAB_IMAGE, ("python", "-m", f"services.{_LAB_MODULE[protocol]}.server"), {}, 8080)
    peers = "/opt/grid/peers"
    command = {
        "node": ("node", f"{peers}/node-server.js"),
        "node-fault": ("node", f"{peers}/node-server.js"),
        "apache": (f"{peers}/apache.sh",),
        "caddy": (f"{peers}/caddy.sh",),
        "grpcjs": ("node", f"{peers}/grpc-server.js"),
        "aiohttp": ("python3", f"{peers}/aiohttp_server.py"),
        "socketio": ("node", f"{peers}/socketio-server.js"),
    }[server]
    if server == "node-fault":
        env["FAULT"] = "mask"
    return Run(PEERS_IMAGE, command, env, port)


def _curl(protocol: str, base: str) -> str:
    """The curl command line for ``protocol`` (a shell line: long polls and the slow upload are loops and pipes)."""
    opts = "-sS -o /dev/null -w '%{http_version} %{http_code}\\n'"
    quiet = f"curl {opts}"
    return {
        "http1": f"{quiet} --http1.1 {base}/item/1 {base}/item/2 {base}/item/3 --next {opts} --http1.1 "
                 f"--data-binary 'hello 1' {base}/echo",
        "sse": f"curl -sS -N --http1.1 --max-time 4 -H 'Accept: text/event-stream' {base}/events",
        "longpoll": f"a=$(curl -sS {base}/poll | cut -d' ' -f2); for i in 1 2 3; do "
                    f"a=$(curl -sS \"{base}/poll?after=$a\" | cut -d' ' -f2); echo poll $a; done",
        "http1-duplex": f"for i in 1 2 3 4 5; do sleep 0.3; printf 'piece %s ......\\n' $i; done | "
                        f"curl -sS -N --http1.1 -T - -X POST -H 'Transfer-Encoding: chunked' {base}/duplex",
        "http2": f"{quiet} --http2-prior-knowledge --parallel {base}/item/1 {base}/item/2 "
                 f"{base}/item/3",
        "h2push": f"{quiet} --http2-prior-knowledge {base}/",
    }[protocol]


def client_run(protocol: str, server: str, client: str, port: int, host: str = "grid-server") -> Run:
    base = f"http://{host}:{port}"
    if client == "lab" and protocol == "http3":  # one server per cell: the lab's scenario part that meets it
        return Run(LAB_IMAGE, ("python", "-m", "services.http3.client"),
                   {"SERVER_HOST": H3_NAME, "SERVER_PORT": str(port), "BYO": "1", "H3_PEER": server})
    if client == "lab":
        return Run(LAB_IMAGE, ("python", "-m", f"services.{_LAB_MODULE[protocol]}.client"),
                   {"SERVER_HOST": host, "SERVER_PORT": str(port), "BYO": "1"})
    if client == "curl":
        return Run(PEERS_IMAGE, ("sh", "-c", _curl(protocol, base)))
    if client in ("node", "node-fault"):
        env = {"PROTO": protocol, "SERVER_HOST": host, "SERVER_PORT": str(port)}
        if client == "node-fault":
            env["FAULT"] = "chatty"
        return Run(PEERS_IMAGE, ("node", "/opt/grid/peers/node-client.js"), env)
    if protocol == "http3":  # QUIC forced on the certificate's name, mapped to the grid's server
        return Run(PEERS_IMAGE, ("node", "/opt/grid/peers/chromium-driver.js"),
                   {"PROTO": protocol, "SERVER_HOST": host, "SERVER_PORT": str(port), "TLS_NAME": H3_NAME})
    env = {"PROTO": protocol, "SERVER_HOST": host, "SERVER_PORT": str(port),
           "PAGE": "served" if server in _SERVES_PAGE else "inline",
           # the lab's certificate names websocket-tls-server (services/Dockerfile), not grid-server
           **({"TLS_NAME": "websocket-tls-server"} if server == "lab" else {}),
           "QUERY": "?upload" if protocol == "http2" and server == "node" else ""}
    return Run(PEERS_IMAGE, ("node", "/opt/grid/peers/chromium-driver.js"), env)


def expectations(protocol: str, client: str, server: str = "") -> tuple[tuple[str, dict[str, float]], ...]:
    """The scenario expectations that apply to what this client asked for (with the thresholds its scenario meets).

    Push is expected only where the client allowed it (nghttp and node's http2 do; curl and Chromium send
    SETTINGS_ENABLE_PUSH=0, so there http2.push-disabled-respected is the rule that speaks); pipelining only from the
    lab's client, the one that pipelines; three requests on one connection only from the clients that put them
    there (the lab's, and curl given several URLs; undici and Chromium pick connections from their own pools); the
    overlap of a streamed upload only from clients that stream one. HTTP/3: from the lab's server both clients ask
    a streamed /stream with GETs beside it; only the lab's client sends MAX_PUSH_ID (Chromium never does), so push is
    expected only there; Caddy answers every GET in one DATA frame and has no push: nothing to expect from it beyond
    the protocol's rules."""
    if protocol == "http3":
        if server != "lab":
            return ()
        both = (("http3.multiplexed", {}), ("http3.streamed-response", {}))
        return both + ((("http3.push-observed", {}),) if client == "lab" else ())
    if protocol == "http1":  # node's fetch (undici) and Chromium choose their connections themselves
        one = (("http1.keep-alive", {"at_least": 3}),) if client in ("lab", "curl") else ()
        return one + ((("http1.pipelined", {}),) if client == "lab" else ())
    if protocol == "h2push":
        return (("h2push.push-observed", {}),) if client in ("lab", "node") else ()
    table: dict[str, tuple[tuple[str, dict[str, float]], ...]] = {
        "sse": (("sse.server-pushes-events", {"at_least": 5}),),
        "longpoll": (("longpoll.held-open", {"at_least": 3, "hold": 0.2}),),
        "http1-duplex": (("http1-duplex.overlap", {"at_least": 1}),),
        "websocket": (("websocket.server-originates", {"at_least": 5}),),
        "websocket-h2": (("websocket.server-originates", {"at_least": 5}),),
        "http2": (("http2.multiplexed", {}),),
        "grpc": (("grpc.bidi-one-stream", {}), ("grpc.full-duplex", {}), ("grpc.server-originates", {"at_least": 3})),
        "socketio": (("websocket.server-originates", {"at_least": 3}),),
    }
    return table[protocol]


def fault(server: str, client: str, protocol: str) -> str | None:
    """The invariant the cell's fault peer breaks, if it has one."""
    return SERVERS[server].fault.get(protocol) or CLIENTS[client].fault.get(protocol)
