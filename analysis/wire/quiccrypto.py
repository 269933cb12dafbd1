"""QUIC packet protection (RFC 9001 §5), undone: keys from secrets, header protection off, payload opened.

Pure functions over bytes and secrets. Initial keys come from the client's first Destination
Connection ID (§5.2); Handshake and 1-RTT keys from the TLS secrets an NSS key log names
(``CLIENT_HANDSHAKE_TRAFFIC_SECRET`` …, keyed by the ClientHello's random), the same text a
pcapng Decryption Secrets Block carries. Key updates (§6) derive the next generation with
"quic ku". QUIC version 1 only: a version 2 (RFC 9369) connection is reported, not guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

VERSION_1 = 0x00000001
_INITIAL_SALT_V1 = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")

# TLS 1.3 cipher suites QUIC uses: (AEAD, key length, hash)
SUITES = {0x1301: ("aes", 16, "sha256"), 0x1302: ("aes", 32, "sha384"), 0x1303: ("chacha", 32, "sha256")}
INITIAL_SUITE = 0x1301

KEYLOG_LABELS = {  # (epoch, sender is client) -> the key log label of its secret
    ("handshake", True): "CLIENT_HANDSHAKE_TRAFFIC_SECRET", ("handshake", False): "SERVER_HANDSHAKE_TRAFFIC_SECRET",
    ("1rtt", True): "CLIENT_TRAFFIC_SECRET_0", ("1rtt", False): "SERVER_TRAFFIC_SECRET_0",
    ("0rtt", True): "CLIENT_EARLY_TRAFFIC_SECRET",
}


class Unopenable(Exception):
    """The packet does not open with these keys (wrong keys, or damaged bytes)."""


def _hkdf_extract(salt: bytes, ikm: bytes, hash_name: str) -> bytes:
    import hmac  # hmac and hashlib (OpenSSL) load with the first key derived, not with the package

    return hmac.new(salt, ikm, hash_name).digest()


def hkdf_expand_label(secret: bytes, label: str, length: int, hash_name: str = "sha256") -> bytes:
    """TLS 1.3's HKDF-Expand-Label (RFC 8446 §7.1) with an empty context, as QUIC uses it."""
    import hmac

    full = b"tls13 " + label.encode()
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + b"\x00"
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(secret, block + info + bytes([i]), hash_name).digest()
        out += block
        i += 1
    return out[:length]


@dataclass(slots=True)
class Keys:
    """One direction's packet protection at one epoch (and key phase)."""

    suite: int
    secret: bytes
    key: bytes
    iv: bytes
    hp: bytes
    # Made on first use and kept (a cipher object per packet cost more than the decryption); not part of the value.
    _aead: object = field(default=None, init=False, repr=False, compare=False)
    _ecb: object = field(default=None, init=False, repr=False, compare=False)
    _iv: int = field(default=0, init=False, repr=False, compare=False)  # ``iv`` as an integer, set with ``_aead``
    _lane: object = field(default=None, init=False, repr=False, compare=False)  # see _join

    @classmethod
    def from_secret(cls, secret: bytes, suite: int, hp: bytes | None = None) -> Keys:
        _, key_len, hash_name = SUITES[suite]
        key = hkdf_expand_label(secret, "quic key", key_len, hash_name)
        iv = hkdf_expand_label(secret, "quic iv", 12, hash_name)
        if hp is None:
            hp = hkdf_expand_label(secret, "quic hp", key_len, hash_name)
        return cls(suite, secret, key, iv, hp)

    def next_phase(self) -> Keys:
        """The keys after a key update: a new secret, the same header protection key (RFC 9001 §6)."""
        import hashlib

        hash_name = SUITES[self.suite][2]
        secret = hkdf_expand_label(self.secret, "quic ku", hashlib.new(hash_name).digest_size, hash_name)
        return Keys.from_secret(secret, self.suite, self.hp)

    def mask(self, sample: bytes) -> bytes:
        if self._ecb is not None and len(sample) == 16:  # AES: ECB keeps no state across whole blocks
            return self._ecb.update(sample)[:5]
        if SUITES[self.suite][0] == "aes":
            enc = make_ecb(self.hp)
            if len(sample) == 16:
                self._ecb = enc
                self._join()
            return enc.update(sample)[:5]
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms  # loaded by the first ChaCha20 flow

        enc = Cipher(algorithms.ChaCha20(self.hp, sample), mode=None).encryptor()
        return enc.update(b"\x00" * 5)

    def open(self, pn: int, aad: bytes, ciphertext: bytes) -> bytes:
        aead = self._aead
        if aead is None:
            aead = self._aead = make_aead(SUITES[self.suite][0], self.key)
            self._iv = int.from_bytes(self.iv, "big")
            self._join()
        nonce = (self._iv ^ pn).to_bytes(12, "big")
        try:
            return aead.decrypt(nonce, ciphertext, aad)
        except Exception as exc:
            if not invalid_tag(exc):
                raise
            raise Unopenable from exc


    def _join(self) -> None:
        """Both AES contexts made, by OpenSSL (wire._aead): the fast lane below in one call of C, ShortLane."""
        native = _native()
        if native is not None and isinstance(self._aead, native[0]) and isinstance(self._ecb, native[1]):
            self._lane = native[2](self._aead, self._ecb, self.iv).open_short

    def open_short(self, packet: bytes, pn_offset: int, largest: int, phase: int) -> tuple[int, bytes] | None:
        """A short header packet of key phase ``phase`` opened in one go, the common case of a big capture (header
        protection off, packet number decoded against ``largest``, payload opened): (packet number, plaintext).
        None, having changed nothing, when it takes the general way (``unprotect``, ``decode_packet_number``,
        ``open``), which gives the same: keys not yet used or not AES, a packet too short to sample, the other
        key phase, a payload that does not open."""
        return _open_short(self, packet, pn_offset, largest, phase)


def _open_short(keys: Keys, packet: bytes, pn_offset: int, largest: int, phase: int) -> tuple[int, bytes] | None:
    """``Keys.open_short`` (a function of its own, which the compiled path types): wire._aead's ShortLane where the
    keys' contexts are OpenSSL's, which does the same in C."""
    lane = keys._lane
    if lane is not None:
        return lane(packet, pn_offset, largest, phase)
    ecb, aead = keys._ecb, keys._aead
    if ecb is None or aead is None or len(packet) < pn_offset + 20:
        return None
    mask = ecb.update(packet[pn_offset + 4:pn_offset + 20])  # ECB keeps no state across whole blocks
    first = packet[0] ^ (mask[0] & 0x1F)
    if (first >> 2) & 1 != phase:
        return None
    pn_len = (first & 0x03) + 1
    pn_end = pn_offset + pn_len
    truncated = 0
    for i in range(pn_len):
        truncated = truncated << 8 | (packet[pn_offset + i] ^ mask[1 + i])
    pn = decode_packet_number(truncated, pn_len, largest)
    header = bytes((first,)) + packet[1:pn_offset] + truncated.to_bytes(pn_len, "big")
    try:
        return pn, aead.decrypt((keys._iv ^ pn).to_bytes(12, "big"), packet[pn_end:], header)
    except Exception:  # the general way tells a packet that does not open from a fault
        return None


_NATIVE: list = []  # [(AesGcm, AesEcb, ShortLane, RecordLane) of wire._aead, or None; why not], with the first key


def _native() -> tuple | None:
    """wire._aead's classes, which open AES-GCM and mask with OpenSSL contexts made once per key, or None where it
    does not load (not built, ``DUPLEXLAB_PURE`` set, no libcrypto): then ``cryptography`` does, with the same
    results. Imported with the first key, not with the package."""
    if not _NATIVE:
        try:
            from ._aead import AesEcb, AesGcm, RecordLane, ShortLane
        except ImportError as exc:
            _NATIVE.extend((None, str(exc) or type(exc).__name__))
        else:
            _NATIVE.extend(((AesGcm, AesEcb, ShortLane, RecordLane), ""))
    return _NATIVE[0]


def aead_backend() -> str:
    """What opens AES-GCM (QUIC packets, TLS records) and masks AES headers in this process, for --version."""
    return "OpenSSL contexts" if _native() is not None else f"cryptography ({_NATIVE[1]})"


def make_aead(kind: str, key: bytes):
    """An AEAD opener (``decrypt(nonce, data, aad)``, InvalidTag when the tag does not match): AES-GCM for ``kind``
    "aes" or "gcm", else ChaCha20-Poly1305 (always ``cryptography``'s). ``cryptography`` is imported here, on first
    use: a capture with nothing to decrypt (most small checks) never loads it."""
    aes = kind in ("aes", "gcm")
    native = _native() if aes else None
    if native is not None:
        return native[0](key)
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

    return AESGCM(key) if aes else ChaCha20Poly1305(key)


def record_lane(aead, iv: bytes):
    """wire._aead's TLS 1.3 record opener on ``aead``'s context (``open_record(record, seq)``), or None where
    ``aead`` is not one of its contexts (``cryptography``'s: the general way opens the records)."""
    native = _native()
    if native is None or type(aead) is not native[0]:
        return None
    return native[3](aead, iv).open_record


def make_ecb(key: bytes):
    """An AES-ECB encryptor (``update(whole blocks)``), for header protection masks."""
    native = _native()
    if native is not None:
        return native[1](key)
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    return Cipher(algorithms.AES(key), modes.ECB()).encryptor()


def invalid_tag(exc: BaseException) -> bool:
    """Whether ``exc`` is cryptography's InvalidTag (a record or packet that does not open); imported once one
    fails, so the path of every record that opens pays no import."""
    from cryptography.exceptions import InvalidTag

    return isinstance(exc, InvalidTag)


def initial_keys(dcid: bytes) -> tuple[Keys, Keys]:
    """(client's, server's) Initial keys from the Destination Connection ID of the client's first Initial."""
    initial = _hkdf_extract(_INITIAL_SALT_V1, dcid, "sha256")
    client = hkdf_expand_label(initial, "client in", 32)
    server = hkdf_expand_label(initial, "server in", 32)
    return Keys.from_secret(client, INITIAL_SUITE), Keys.from_secret(server, INITIAL_SUITE)


def unprotect(keys: Keys, packet: bytes, pn_offset: int, long_header: bool) -> tuple[bytes, int, int, int]:
    """Header protection off (RFC 9001 §5.4): (unprotected header, truncated packet number, its length in
    bytes, first byte). Raises Unopenable when the packet is too short to sample."""
    sample_at = pn_offset + 4
    if len(packet) < sample_at + 16:
        raise Unopenable
    mask = keys.mask(bytes(packet[sample_at:sample_at + 16]))
    first = packet[0] ^ (mask[0] & (0x0F if long_header else 0x1F))
    pn_len = (first & 0x03) + 1
    pn_end = pn_offset + pn_len
    truncated = int.from_bytes(packet[pn_offset:pn_end], "big") ^ int.from_bytes(mask[1:1 + pn_len], "big")
    header = bytes((first,)) + bytes(packet[1:pn_offset]) + truncated.to_bytes(pn_len, "big")
    return header, truncated, pn_len, first


def decode_packet_number(truncated: int, pn_len: int, largest: int) -> int:
    """The full packet number from its truncated form and the largest one seen in its space (RFC 9000 §A.3)."""
    expected = largest + 1
    win = 1
    win <<= pn_len * 8  # in two steps: compiled, ``1 << 32`` would shift a C int out of its width (a 4-byte number)
    hwin, mask = win // 2, win - 1
    candidate = (expected & ~mask) | truncated
    if candidate <= expected - hwin and candidate < (1 << 62) - win:
        return candidate + win
    if candidate > expected + hwin and candidate >= win:
        return candidate - win
    return candidate


def parse_keylog(text: bytes) -> dict[bytes, dict[str, bytes]]:
    """{client random: {label: secret}} from NSS key log text (lines ``LABEL <random hex> <secret hex>``)."""
    out: dict[bytes, dict[str, bytes]] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3 or parts[0].startswith(b"#"):
            continue
        try:
            random, secret = bytes.fromhex(parts[1].decode()), bytes.fromhex(parts[2].decode())
        except ValueError:
            continue
        out.setdefault(random, {})[parts[0].decode("ascii", "replace")] = secret
    return out
