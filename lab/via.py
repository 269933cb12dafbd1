"""A reverse proxy in the path: ``make lab VIA=nginx|nginx-streaming|haproxy|haproxy-streaming``.

For each chosen protocol the override adds ``<protocol>-proxy`` (Debian's nginx or HAProxy with
the config in services/proxies/, which a user can read and copy), points the protocol's client at
it, and moves the capture sidecar into the proxy's network namespace, where it sees both legs:
client↔proxy and proxy↔server. The analysis pairs them (``analysis.invariants.path``).
"""

from __future__ import annotations

import json
from pathlib import Path

PROXIES = ("nginx", "nginx-streaming", "haproxy", "haproxy-streaming")
# The proxy's port for each kind of client (services/proxies/*: 8080 HTTP/1.x, 8081 h2c, 8082 gRPC).
_H1, _H2, _GRPC = 8080, 8081, 8082
_NGINX = {"http1": _H1, "websocket": _H1, "sse": _H1, "longpoll": _H1, "http1-duplex": _H1, "http2": _H2,
          "grpc": _GRPC}
# What each proxy can carry, and why not the rest (the lab says so instead of skipping silently).
CARRIES: dict[str, dict[str, int]] = {
    "nginx": _NGINX,
    "nginx-streaming": _NGINX,
    "haproxy": {**_NGINX, "h2push": _H2},
    "haproxy-streaming": {**_NGINX, "h2push": _H2},
}
WHY_NOT = {
    "h2push": "nginx speaks only HTTP/1.x to an upstream (grpc_pass aside), and the h2push server (nghttpd) "
              "speaks only HTTP/2",
    **dict.fromkeys(("websocket-tls", "http2-tls", "sse-tls", "grpc-tls"),
                    "the TLS scenarios end TLS at their own server; a proxy in between would need the lab's "
                    "certificate and would hide the keys of one leg"),
    "http3": "Debian's nginx 1.22 and HAProxy 2.6 do not speak QUIC (and a QUIC proxy ends TLS, hiding one leg's "
             "keys)",
    "webtransport": "Debian's nginx 1.22 and HAProxy 2.6 do not speak QUIC or WebTransport",
    "websocket-h2": "the lab's proxy configs have no route for an extended CONNECT (RFC 8441): nginx 1.22 does not "
                    "implement it, and HAProxy 2.6's support was not measured here",
    "sse-h2": "the lab's proxy configs have no route for it yet: it would need an h2c front on its own port and a "
              "measured answer to whether each proxy keeps the two streams apart",
}


def service(protocol: str) -> str:
    return f"{protocol}-proxy"


def check(via: str, protocols: list[str], explicit: bool) -> str | None:
    """One sentence on why this request cannot run, or None."""
    if via not in PROXIES:
        return f"VIA={via} is not a proxy the lab has; choose one of {', '.join(PROXIES)}."
    missing = [p for p in protocols if p not in CARRIES[via]]
    if explicit and missing:
        p = missing[0]
        return f"VIA={via} cannot carry {p}: {WHY_NOT.get(p, 'it is not set up for it')}."
    return None


def carried(via: str, protocols: list[str]) -> tuple[list[str], list[str]]:
    """The protocols ``via`` carries, and the ones it does not (announced, not dropped silently)."""
    return [p for p in protocols if p in CARRIES[via]], [p for p in protocols if p not in CARRIES[via]]


def override(via: str, protocols: list[str], lab_port: int = 8080) -> dict:
    """The Compose override (JSON is YAML) that puts ``via`` between each protocol's client and server."""
    services: dict[str, dict] = {}
    for n, protocol in enumerate(protocols):
        port = CARRIES[via][protocol]
        listening = f":{port:04X} [0-9A-F]+:0000 0A"
        proxy = {
            "image": "duplexlab-proxies:latest", "networks": ["lab"], "init": True, "read_only": True,
            "tmpfs": ["/tmp"], "cap_drop": ["ALL"], "security_opt": ["no-new-privileges:true"],
            "environment": {"VIA": via, "UPSTREAM": f"{protocol}-server:{lab_port}"},
            "depends_on": {f"{protocol}-server": {"condition": "service_healthy"}},
            # Listening, read from /proc: a probe connection would land in the capture.
            "healthcheck": {"test": ["CMD-SHELL", f"grep -qE '{listening}' /proc/net/tcp /proc/net/tcp6"],
                            "interval": "1s", "retries": 30},
        }
        if n == 0:
            proxy["build"] = {"context": ".", "dockerfile": "services/proxies/Dockerfile"}
        services[service(protocol)] = proxy
        services[f"capture-{protocol}"] = {
            "network_mode": f"service:{service(protocol)}",
            "depends_on": {service(protocol): {"condition": "service_healthy"}},
        }
        services[f"{protocol}-client"] = {"environment": {"SERVER_HOST": service(protocol), "SERVER_PORT": str(port),
                                                          "VIA": via}}
    return {"services": services}


def write_override(via: str, protocols: list[str], where: Path) -> Path:
    path = where / ".via.compose.json"
    path.write_text(json.dumps(override(via, protocols), indent=2) + "\n")
    return path
