"""Your server in the lab: one protocol's scenario run against an image of yours instead of the lab's server.

``make lab PROTOCOLS=websocket SERVER_IMAGE=my/ws:1.2 SERVER_PORT=8765 SERVER_PATH=/ws`` writes a
Compose override (captures/.your-server.compose.json) that adds the service ``your-server`` from that
image on the lab network, moves the protocol's capture sidecar into its network namespace, and
points the protocol's client at it. The lab's rules apply to your server too: no capabilities, a
read-only root with /tmp writable, nothing published. The sidecar is ready only once your server
listens on its port (read from /proc/net/tcp, so no probe traffic reaches the capture).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

SERVICE = "your-server"
SUPPORTED = ("http1", "websocket", "sse", "http2")  # the clients that ask nothing only the lab's server knows


@dataclass(frozen=True)
class YourServer:
    image: str
    port: int | None = None
    path: str | None = None

    def describe(self) -> str:
        where = f" port {self.port}" if self.port else ""
        path = f" path {self.path}" if self.path else ""
        return f"{self.image} (yours){where}{path}"


def check(server: YourServer, protocols: list[str], profile: str) -> str | None:
    """One sentence on why this request cannot run, or None."""
    if profile:
        return "SERVER_IMAGE and PROFILE cannot be combined: the misbehave profile brings its own servers."
    if len(protocols) != 1:
        return (f"SERVER_IMAGE replaces one protocol's server: choose one with PROTOCOLS= (got "
                f"{' '.join(protocols)}).")
    if protocols[0] not in SUPPORTED:
        return f"your own server can stand in for {', '.join(SUPPORTED)}; not for {protocols[0]}."
    if server.port is not None and not 0 < server.port < 65536:
        return f"SERVER_PORT={server.port} is not a TCP port."
    if server.path is not None and not server.path.startswith("/"):
        return f"SERVER_PATH={server.path} must start with '/'."
    return None


def override(server: YourServer, protocol: str, lab_port: int) -> dict:
    """The Compose override (JSON is YAML) that puts ``server`` in place of the protocol's own."""
    port = server.port or lab_port
    env = {"SERVER_HOST": SERVICE, "SERVER_PORT": str(port), "BYO": "1"}
    if server.path:
        env["SERVER_PATH"] = server.path
    listening = f":{port:04X} [0-9A-F]+:0000 0A"
    return {"services": {
        SERVICE: {"image": server.image, "networks": ["lab"], "init": True, "read_only": True, "tmpfs": ["/tmp"],
                  "cap_drop": ["ALL"], "security_opt": ["no-new-privileges:true"]},
        f"capture-{protocol}": {
            "network_mode": f"service:{SERVICE}",
            "healthcheck": {"test": ["CMD-SHELL", f"test -s /captures/$$NAME.pcapng.part && grep -qE "
                                     f"'{listening}' /proc/net/tcp /proc/net/tcp6"], "interval": "1s", "retries": 60}},
        f"{protocol}-client": {"environment": env},
    }}


def write_override(server: YourServer, protocol: str, lab_port: int, where: Path) -> Path:
    path = where / ".your-server.compose.json"
    path.write_text(json.dumps(override(server, protocol, lab_port), indent=2) + "\n")
    return path
