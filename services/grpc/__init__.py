"""gRPC peers: one bidirectional streaming method, served with grpcio's generic handlers (no protoc)."""

METHOD = "/duplexlab.Ticker/Chat"


def identity(b: bytes) -> bytes:
    return b
