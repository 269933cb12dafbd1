"""The one store of TLS secrets, shared by TLS over TCP and QUIC: NSS key log lines by client random.

Secrets come from the capture's pcapng Decryption Secrets Blocks, as the reader meets them
(``FileFacts.keylog`` grows), and from a ``--keylog`` file. A connection is looked up by the
random of its (first) ClientHello, whatever the protocol.
"""

from __future__ import annotations

from .quiccrypto import parse_keylog


class Keylog:
    """TLS secrets by client random. ``text`` grows as the reader meets DSBs; it is parsed again only when it
    has grown."""

    def __init__(self, text: bytearray | bytes = b"", extra: bytes = b"") -> None:
        self.text, self.extra = text, extra
        self._seen, self._parsed = -1, {}

    def __call__(self, random: bytes) -> dict[str, bytes]:
        return self._entries().get(random, {})

    def holds_any(self) -> bool:
        """Whether any secret at all is at hand (a log that names no connection is still a log)."""
        return bool(self._entries())

    def _entries(self) -> dict[bytes, dict[str, bytes]]:
        if len(self.text) != self._seen:
            self._seen = len(self.text)
            self._parsed = parse_keylog(bytes(self.text) + b"\n" + self.extra)
        return self._parsed
