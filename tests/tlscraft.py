"""Crafted TLS 1.3 sessions with known secrets: the cleartext faults of tests/crafted.py, encrypted.

``Tls13Writer`` writes the records of one TLS 1.3 connection (a ClientHello, the server's hello and
encrypted flight, the client's Finished, then application data) with ``cryptography`` and its own
traffic secrets, and says them as an NSS key log. No certificate or signature is made: a passive reader
never checks them. ``TlsConv`` is a ``crafted.Conv`` whose ``send`` encrypts what it is given into one
record and whose ``write`` embeds the key log as a Decryption Secrets Block, so any crafted conversation
becomes the same conversation over TLS.
"""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from analysis.wire.quiccrypto import hkdf_expand_label
from lab.secrets import inject_secrets
from tests.crafted import C, Conv, S

_SUITES = {0x1301: ("gcm", 16, "sha256"), 0x1302: ("gcm", 32, "sha384"), 0x1303: ("chacha", 32, "sha256")}


def _vec(data: bytes, n: int) -> bytes:
    return len(data).to_bytes(n, "big") + data


def _ext(kind: int, data: bytes) -> bytes:
    return kind.to_bytes(2, "big") + _vec(data, 2)


def _alpn(*names: str) -> bytes:
    return _ext(16, _vec(b"".join(_vec(n.encode(), 1) for n in names), 2))


def handshake_msg(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def record(ctype: int, body: bytes, version: bytes = b"\x03\x03") -> bytes:
    return bytes([ctype]) + version + len(body).to_bytes(2, "big") + body


class _Sealer:
    def __init__(self, secret: bytes, suite: int) -> None:
        kind, klen, self.hash = _SUITES[suite]
        self.secret, self.suite = secret, suite
        key = hkdf_expand_label(secret, "key", klen, self.hash)
        self.iv = int.from_bytes(hkdf_expand_label(secret, "iv", 12, self.hash), "big")
        self.aead = AESGCM(key) if kind == "gcm" else ChaCha20Poly1305(key)
        self.seq = 0

    def seal(self, ctype: int, plain: bytes, pad: int = 0) -> bytes:
        inner = plain + bytes([ctype]) + b"\x00" * pad
        header = bytes([23, 3, 3]) + (len(inner) + 16).to_bytes(2, "big")
        body = self.aead.encrypt((self.iv ^ self.seq).to_bytes(12, "big"), inner, header)
        self.seq += 1
        return header + body

    def updated(self) -> _Sealer:
        size = hashlib.new(self.hash).digest_size
        return _Sealer(hkdf_expand_label(self.secret, "traffic upd", size, self.hash), self.suite)


class Tls13Writer:
    """The records of one TLS 1.3 connection, with secrets drawn from ``seed``."""

    def __init__(self, suite: int = 0x1301, alpn: str | None = "http/1.1", offer: tuple[str, ...] | None = None,
                 seed: int = 1) -> None:
        rng = random.Random(seed)
        size = hashlib.new(_SUITES[suite][2]).digest_size
        self.suite, self.alpn = suite, alpn
        self.offer = offer if offer is not None else ((alpn,) if alpn else ())
        self.random = rng.randbytes(32)
        self.secrets = {label: rng.randbytes(size) for label in (
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0",
            "SERVER_TRAFFIC_SECRET_0")}
        self.hs = {C: _Sealer(self.secrets["CLIENT_HANDSHAKE_TRAFFIC_SECRET"], suite),
                   S: _Sealer(self.secrets["SERVER_HANDSHAKE_TRAFFIC_SECRET"], suite)}
        self.app = {C: _Sealer(self.secrets["CLIENT_TRAFFIC_SECRET_0"], suite),
                    S: _Sealer(self.secrets["SERVER_TRAFFIC_SECRET_0"], suite)}

    def keylog(self, labels: tuple[str, ...] | None = None) -> bytes:
        return b"".join(f"{label} {self.random.hex()} {secret.hex()}\n".encode()
                        for label, secret in self.secrets.items() if labels is None or label in labels)

    def client_hello(self) -> bytes:
        ext = _ext(43, _vec(b"\x03\x04", 1)) + (_alpn(*self.offer) if self.offer else b"")
        body = b"\x03\x03" + self.random + _vec(b"", 1) + _vec(b"\x13\x01\x13\x02\x13\x03", 2) + b"\x01\x00" + _vec(
            ext, 2)
        return record(22, handshake_msg(1, body), b"\x03\x01")

    def server_flight(self) -> bytes:
        body = (b"\x03\x03" + os.urandom(32) + _vec(b"", 1) + self.suite.to_bytes(2, "big") + b"\x00"
                + _vec(_ext(43, b"\x03\x04"), 2))
        ee = handshake_msg(8, _vec(_alpn(self.alpn) if self.alpn else b"", 2))
        fin = handshake_msg(20, b"\x00" * 32)
        return (record(22, handshake_msg(2, body)) + record(20, b"\x01")
                + self.hs[S].seal(22, ee + fin))

    def client_finished(self) -> bytes:
        return record(20, b"\x01") + self.hs[C].seal(22, handshake_msg(20, b"\x00" * 32))

    def seal(self, who: str, data: bytes, ctype: int = 23, pad: int = 0) -> bytes:
        return self.app[who].seal(ctype, data, pad)

    def key_update(self, who: str) -> bytes:
        """A KeyUpdate record from ``who``; what ``who`` seals next uses the updated keys."""
        out = self.app[who].seal(22, handshake_msg(24, b"\x00"))
        self.app[who] = self.app[who].updated()
        return out


class TlsConv(Conv):
    """A crafted conversation over TLS 1.3: ``handshake`` adds the TLS handshake (3 frames), ``send`` encrypts each
    piece into one record, ``write`` embeds the keys (pass ``keys=`` a key log, or b"" for none)."""

    def __init__(self, *args, writer: Tls13Writer | None = None, keys: bytes | None = None, **kw) -> None:
        super().__init__(*args, **kw)
        self.tls = writer or Tls13Writer()
        self.keys = keys
        self._unsent: dict[tuple[str, bytes], bytes] = {}  # a record sent with advance=False, to send again as is

    def handshake(self, dt: float = 0.001, tls: bool = True) -> TlsConv:
        super().handshake(dt)
        if tls:
            self.raw(C, self.tls.client_hello())
            self.raw(S, self.tls.server_flight())
            self.raw(C, self.tls.client_finished())
        return self

    def raw(self, who: str, data: bytes, dt: float = 0.01) -> int:
        return super().send(who, data, dt)

    def send(self, who: str, data: bytes, dt: float = 0.01, seq_offset: int = 0, advance: bool = True,
             flags: str = "PA") -> int:
        # A retransmission (the same bytes at the same place) carries the same record, not a new one sealed with
        # the next sequence number: on the wire a retransmitted TLS segment is byte for byte the first.
        record = self._unsent.pop((who, data), None) or self.tls.seal(who, data)
        if not advance:
            self._unsent[(who, data)] = record
        return super().send(who, record, dt, seq_offset, advance, flags)

    def write(self, path: os.PathLike, ng: bool = True) -> str:
        super().write(path, ng=True)
        keys = self.tls.keylog() if self.keys is None else self.keys
        if keys:
            Path(path).write_bytes(inject_secrets(Path(path).read_bytes(), keys))
        return str(path)
