"""The TLS record layer, read passively (RFC 8446, RFC 5246): hellos, key schedule, records opened.

Pure functions and small value classes over bytes and secrets; the carrier that drives them per
connection is ``protocols.tls``. Split as aioquic splits it:

- reading: records (``record_header``), handshake messages, ClientHello / ServerHello /
  EncryptedExtensions (``client_hello``, ``server_hello``, ``encrypted_extensions``);
- key schedule: TLS 1.3 traffic keys from the NSS key log's traffic secrets and their KeyUpdate
  ("traffic upd"), with quiccrypto's HKDF-Expand-Label; TLS 1.2's key block from the master secret
  (CLIENT_RANDOM) with the PRF of its suite (``tls12_keys``);
- record protection undone: ``RecordKeys.open`` gives (content type, plaintext, where the plaintext
  begins in the record's fragment) or raises ``BadRecord``: bytes that do not authenticate are never
  handed on as plaintext.

TLS 1.2 suites read: AES-GCM (salt + explicit nonce), ChaCha20-Poly1305 (RFC 7905), AES-CBC with
HMAC-SHA1/SHA256/SHA384 both MAC-then-encrypt and encrypt-then-MAC (RFC 7366), under ECDHE, DHE or
RSA key exchange (which changes nothing once the master secret is known). TLS 1.0/1.1 and the
export, RC4, 3DES and CCM suites are reported as not read.
"""

from __future__ import annotations

from dataclasses import dataclass

from .quiccrypto import hkdf_expand_label, invalid_tag, make_aead, record_lane

CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA = 20, 21, 22, 23
CLIENT_HELLO, SERVER_HELLO, NEW_SESSION_TICKET, END_OF_EARLY_DATA = 1, 2, 4, 5
ENCRYPTED_EXTENSIONS, FINISHED, KEY_UPDATE = 8, 20, 24
TLS12, TLS13 = 0x0303, 0x0304
MAX_RECORD = 16384 + 2048  # the largest fragment any version allows (RFC 5246 §6.2.3)
HEADER = 5

# A ServerHello with this random is a HelloRetryRequest (RFC 8446 §4.1.3).
HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
_EXT_ALPN, _EXT_ETM, _EXT_EARLY, _EXT_VERSIONS, _EXT_PSK = 16, 22, 42, 43, 41

# TLS 1.3 suites: (AEAD, key length, hash)
TLS13_SUITES = {0x1301: ("gcm", 16, "sha256"), 0x1302: ("gcm", 32, "sha384"), 0x1303: ("chacha", 32, "sha256")}


@dataclass(frozen=True, slots=True)
class Suite12:
    """A TLS 1.2 cipher suite as the record layer needs it: cipher, key length, record MAC, PRF hash."""

    name: str
    cipher: str  # "gcm", "chacha" or "cbc"
    key_len: int
    mac: str | None  # CBC only: "sha1", "sha256", "sha384"
    prf: str = "sha256"


def _suites12() -> dict[int, Suite12]:
    table: dict[int, Suite12] = {}
    gcm = {"AES128-GCM-SHA256": (16, "sha256"), "AES256-GCM-SHA384": (32, "sha384")}
    for kx, (a128, a256) in {"ECDHE-RSA": (0xC02F, 0xC030), "ECDHE-ECDSA": (0xC02B, 0xC02C),
                             "RSA": (0x009C, 0x009D), "DHE-RSA": (0x009E, 0x009F)}.items():
        for code, (name, (klen, prf)) in zip((a128, a256), gcm.items(), strict=True):
            table[code] = Suite12(f"{kx}-{name}", "gcm", klen, None, prf)
    for code, kx in ((0xCCA8, "ECDHE-RSA"), (0xCCA9, "ECDHE-ECDSA"), (0xCCAA, "DHE-RSA")):
        table[code] = Suite12(f"{kx}-CHACHA20-POLY1305", "chacha", 32, None)
    cbc = {  # code: (name, key length, MAC, PRF)
        0xC013: ("ECDHE-RSA-AES128-SHA", 16, "sha1", "sha256"), 0xC014: ("ECDHE-RSA-AES256-SHA", 32, "sha1", "sha256"),
        0xC009: ("ECDHE-ECDSA-AES128-SHA", 16, "sha1", "sha256"),
        0xC00A: ("ECDHE-ECDSA-AES256-SHA", 32, "sha1", "sha256"),
        0x002F: ("AES128-SHA", 16, "sha1", "sha256"), 0x0035: ("AES256-SHA", 32, "sha1", "sha256"),
        0x0033: ("DHE-RSA-AES128-SHA", 16, "sha1", "sha256"), 0x0039: ("DHE-RSA-AES256-SHA", 32, "sha1", "sha256"),
        0xC027: ("ECDHE-RSA-AES128-SHA256", 16, "sha256", "sha256"),
        0xC023: ("ECDHE-ECDSA-AES128-SHA256", 16, "sha256", "sha256"),
        0x003C: ("AES128-SHA256", 16, "sha256", "sha256"), 0x003D: ("AES256-SHA256", 32, "sha256", "sha256"),
        0x0067: ("DHE-RSA-AES128-SHA256", 16, "sha256", "sha256"),
        0x006B: ("DHE-RSA-AES256-SHA256", 32, "sha256", "sha256"),
        0xC028: ("ECDHE-RSA-AES256-SHA384", 32, "sha384", "sha384"),
        0xC024: ("ECDHE-ECDSA-AES256-SHA384", 32, "sha384", "sha384"),
    }
    for code, (name, klen, mac, prf) in cbc.items():
        table[code] = Suite12(name, "cbc", klen, mac, prf)
    return table


TLS12_SUITES = _suites12()


class BadRecord(Exception):
    """The record does not open with these keys: wrong keys, or damaged bytes."""


class Malformed(Exception):
    """A handshake message that does not parse."""


# -- reading ------------------------------------------------------------------------------------------------------


def record_header(buf: bytes | bytearray) -> tuple[int, int, int] | None:
    """(content type, version, fragment length) of the record at the start of ``buf``, or None when ``buf`` does
    not begin a plausible record (an unknown type, a version that is not 3.x, a fragment over the maximum)."""
    ctype, major, minor = buf[0], buf[1], buf[2]
    length = (buf[3] << 8) | buf[4]
    if ctype not in (20, 21, 22, 23) or major != 3 or length > MAX_RECORD:
        return None
    return ctype, (major << 8) | minor, length


def handshake_messages(buf: bytearray) -> list[tuple[int, bytes]]:
    """The whole handshake messages at the start of ``buf``, consumed from it; a partial one stays."""
    out: list[tuple[int, bytes]] = []
    while len(buf) >= 4:
        length = int.from_bytes(buf[1:4], "big")
        if len(buf) < 4 + length:
            break
        out.append((buf[0], bytes(buf[4:4 + length])))
        del buf[:4 + length]
    return out


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise Malformed
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def num(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def vector(self, len_bytes: int) -> bytes:
        return self.take(self.num(len_bytes))

    def done(self) -> bool:
        return self.pos >= len(self.data)


def _extensions(r: _Reader) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    if r.done():
        return out
    ext = _Reader(r.vector(2))
    while not ext.done():
        kind = ext.num(2)
        out[kind] = ext.vector(2)
    return out


def _alpn_list(data: bytes) -> tuple[str, ...]:
    r = _Reader(data)
    names = _Reader(r.vector(2))
    out = []
    while not names.done():
        out.append(names.vector(1).decode("ascii", "replace"))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class ClientHello:
    random: bytes
    alpn: tuple[str, ...]  # offered
    early_data: bool


@dataclass(frozen=True, slots=True)
class ServerHello:
    random: bytes
    version: int  # the negotiated one (supported_versions for 1.3)
    suite: int
    etm: bool  # encrypt_then_mac agreed (RFC 7366)
    alpn: str  # TLS 1.2 carries it here; TLS 1.3 in EncryptedExtensions
    retry: bool  # a HelloRetryRequest


def client_hello(body: bytes) -> ClientHello:
    try:
        r = _Reader(body)
        r.take(2)
        random = r.take(32)
        r.vector(1)
        r.vector(2)
        r.vector(1)
        ext = _extensions(r)
        alpn = _alpn_list(ext[_EXT_ALPN]) if _EXT_ALPN in ext else ()
    except (Malformed, KeyError, IndexError) as exc:
        raise Malformed from exc
    return ClientHello(random, alpn, _EXT_EARLY in ext)


def server_hello(body: bytes) -> ServerHello:
    try:
        r = _Reader(body)
        version = r.num(2)
        random = r.take(32)
        r.vector(1)
        suite = r.num(2)
        r.take(1)
        ext = _extensions(r)
        if _EXT_VERSIONS in ext and len(ext[_EXT_VERSIONS]) == 2:
            version = int.from_bytes(ext[_EXT_VERSIONS], "big")
        alpn = _alpn_list(ext[_EXT_ALPN]) if _EXT_ALPN in ext else ()
    except (Malformed, IndexError) as exc:
        raise Malformed from exc
    return ServerHello(random, version, suite, _EXT_ETM in ext, alpn[0] if alpn else "", random == HRR_RANDOM)


def encrypted_extensions(body: bytes) -> str:
    """The ALPN a TLS 1.3 server chose, from its EncryptedExtensions ('' when none)."""
    try:
        ext = _extensions(_Reader(body))
        alpn = _alpn_list(ext[_EXT_ALPN]) if _EXT_ALPN in ext else ()
    except (Malformed, IndexError) as exc:
        raise Malformed from exc
    return alpn[0] if alpn else ""


# -- record protection --------------------------------------------------------------------------------------------


class RecordKeys:
    """One direction's record protection at one epoch; ``seq`` counts the records it opened."""

    __slots__ = ("seq",)

    def __init__(self) -> None:
        self.seq = 0

    def open(self, header: bytes, fragment: bytes) -> tuple[int, bytes, int]:
        """(inner content type, plaintext, offset of the plaintext's first byte in ``fragment``)."""
        raise NotImplementedError

    def open_record(self, record: bytes) -> tuple[int, bytes, int]:
        """``open`` of a whole record (its header, then its fragment)."""
        return self.open(record[:HEADER], record[HEADER:])


class Tls13Keys(RecordKeys):
    """TLS 1.3 record protection (RFC 8446 §5.2-5.3) from a traffic secret."""

    __slots__ = ("aead", "hash", "iv", "lane", "secret", "suite")

    def __init__(self, secret: bytes, suite: int) -> None:
        super().__init__()
        kind, key_len, self.hash = TLS13_SUITES[suite]
        self.secret, self.suite = secret, suite
        key = hkdf_expand_label(secret, "key", key_len, self.hash)
        iv = hkdf_expand_label(secret, "iv", 12, self.hash)
        self.iv = int.from_bytes(iv, "big")
        self.aead = make_aead(kind, key)
        self.lane = record_lane(self.aead, iv)  # AES-GCM on an OpenSSL context: the whole opening in one call of C

    def open_record(self, record: bytes) -> tuple[int, bytes, int]:
        lane = self.lane
        if lane is None or type(record) is not bytes:
            return self.open(record[:HEADER], record[HEADER:])
        got = lane(record, self.seq)
        if got is None:
            raise BadRecord
        self.seq += 1  # it opened (as open counts it), though it may hold no content type
        if not got:
            raise BadRecord  # no content type: an inner plaintext of zeros only (RFC 8446 §5.4)
        return got[0], got[1], 0

    def open(self, header: bytes, fragment: bytes) -> tuple[int, bytes, int]:
        nonce = (self.iv ^ self.seq).to_bytes(12, "big")
        try:
            inner = self.aead.decrypt(nonce, fragment, header)
        except Exception as exc:
            if not invalid_tag(exc):
                raise
            raise BadRecord from exc
        self.seq += 1
        if inner and inner[-1]:  # the usual case: no padding
            return inner[-1], inner[:-1], 0
        content = inner.rstrip(b"\x00")
        if not content:
            raise BadRecord  # no content type: an inner plaintext of zeros only (RFC 8446 §5.4)
        return content[-1], content[:-1], 0

    def updated(self) -> Tls13Keys:
        """The keys after a KeyUpdate (RFC 8446 §7.2)."""
        import hashlib

        size = hashlib.new(self.hash).digest_size
        return Tls13Keys(hkdf_expand_label(self.secret, "traffic upd", size, self.hash), self.suite)


def prf12(secret: bytes, label: bytes, seed: bytes, length: int, hash_name: str) -> bytes:
    """TLS 1.2's PRF, P_hash (RFC 5246 §5)."""
    import hmac  # with the first key block, not with the package

    seed = label + seed
    out, a = b"", seed
    while len(out) < length:
        a = hmac.new(secret, a, hash_name).digest()
        out += hmac.new(secret, a + seed, hash_name).digest()
    return out[:length]


_MAC_LEN = {"sha1": 20, "sha256": 32, "sha384": 48}


def tls12_keys(suite: Suite12, master: bytes, client_random: bytes, server_random: bytes,
               etm: bool) -> tuple[RecordKeys, RecordKeys]:
    """(client's, server's) record protection from the master secret: the key block (RFC 5246 §6.3)."""
    mac_len = _MAC_LEN[suite.mac] if suite.mac else 0
    iv_len = {"gcm": 4, "chacha": 12, "cbc": 16}[suite.cipher]
    block = prf12(master, b"key expansion", server_random + client_random, 2 * (mac_len + suite.key_len + iv_len),
                  suite.prf)
    at = 0
    parts = []
    for n in (mac_len, mac_len, suite.key_len, suite.key_len, iv_len, iv_len):
        parts.append(block[at:at + n])
        at += n
    cmac, smac, ckey, skey, civ, siv = parts
    if suite.cipher == "cbc":
        return _Cbc12(ckey, cmac, suite.mac, etm), _Cbc12(skey, smac, suite.mac, etm)
    return _Aead12(suite.cipher, ckey, civ), _Aead12(suite.cipher, skey, siv)


class _Aead12(RecordKeys):
    """TLS 1.2 AES-GCM (RFC 5288: 4-byte salt + 8-byte explicit nonce) or ChaCha20-Poly1305 (RFC 7905: the
    sequence number XORed into the 12-byte IV)."""

    __slots__ = ("aead", "gcm", "iv")

    def __init__(self, cipher: str, key: bytes, iv: bytes) -> None:
        super().__init__()
        self.gcm = cipher == "gcm"
        self.aead = make_aead(cipher, key)
        self.iv = iv

    def open(self, header: bytes, fragment: bytes) -> tuple[int, bytes, int]:
        skip = 8 if self.gcm else 0
        if len(fragment) < skip + 16:
            raise BadRecord
        gcm_nonce = self.iv + fragment[:8]
        nonce = gcm_nonce if self.gcm else (int.from_bytes(self.iv, "big") ^ self.seq).to_bytes(12, "big")
        aad = self.seq.to_bytes(8, "big") + header[:3] + (len(fragment) - skip - 16).to_bytes(2, "big")
        try:
            plain = self.aead.decrypt(nonce, fragment[skip:], aad)
        except Exception as exc:
            if not invalid_tag(exc):
                raise
            raise BadRecord from exc
        self.seq += 1
        return header[0], plain, skip


class _Cbc12(RecordKeys):
    """TLS 1.2 AES-CBC with an explicit IV per record and an HMAC: MAC-then-encrypt (RFC 5246 §6.2.3.2) or
    encrypt-then-MAC (RFC 7366). A bad MAC or bad padding is a record that does not open."""

    __slots__ = ("etm", "key", "mac", "mac_key", "mac_len")

    def __init__(self, key: bytes, mac_key: bytes, mac: str | None, etm: bool) -> None:
        super().__init__()
        self.key, self.mac_key, self.mac, self.etm = key, mac_key, mac or "sha1", etm
        self.mac_len = _MAC_LEN[self.mac]

    def _tag(self, header: bytes, content: bytes) -> bytes:
        import hmac

        head = self.seq.to_bytes(8, "big") + header[:3] + len(content).to_bytes(2, "big")
        return hmac.new(self.mac_key, head + content, self.mac).digest()

    def open(self, header: bytes, fragment: bytes) -> tuple[int, bytes, int]:
        import hmac

        if self.etm:
            body, tag = fragment[:-self.mac_len], fragment[-self.mac_len:]
            if len(body) < 32 or len(body) % 16 or not hmac.compare_digest(self._tag(header, body), tag):
                raise BadRecord
        else:
            body = fragment
            if len(body) < 32 or len(body) % 16:
                raise BadRecord
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # on the first CBC record

        dec = Cipher(algorithms.AES(self.key), modes.CBC(body[:16])).decryptor()
        plain = dec.update(body[16:]) + dec.finalize()
        pad = plain[-1]
        if pad + 1 > len(plain) or plain[-1 - pad:] != bytes([pad]) * (pad + 1):
            raise BadRecord
        plain = plain[:-1 - pad]
        if not self.etm:
            if len(plain) < self.mac_len:
                raise BadRecord
            plain, tag = plain[:-self.mac_len], plain[-self.mac_len:]
            if not hmac.compare_digest(self._tag(header, plain), tag):
                raise BadRecord
        self.seq += 1
        return header[0], plain, 16


ALERTS = {0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 40: "handshake_failure",
          42: "bad_certificate", 43: "unsupported_certificate", 44: "certificate_revoked", 45: "certificate_expired",
          46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca", 50: "decode_error",
          51: "decrypt_error", 70: "protocol_version", 80: "internal_error", 90: "user_canceled",
          109: "missing_extension", 110: "unsupported_extension", 112: "unrecognized_name", 116: "certificate_required",
          120: "no_application_protocol"}


def alert_name(plain: bytes) -> str:
    if len(plain) < 2:
        return "a malformed alert"
    return ALERTS.get(plain[1], f"alert {plain[1]}")
