"""TLS over one TCP connection, read by duplexlab itself: records decrypted, plaintext handed to the HTTP parsers.

``TlsConnection`` is a carrier with the parsers' interface (``feed``/``gap``/``finish``/``pending_frame``).
It reads the records of each direction (``wire.tls``), finds the connection's secrets in the key store
(``wire.keys.Keylog``) by its ClientHello's random, and feeds each application-data record's plaintext to
the parser the negotiated ALPN names (``h2`` -> HTTP/2; ``http/1.1`` or none -> HTTP/1.x, which goes on to
WebSocket, SSE and long polling as in cleartext). Anything else is not judged, with its ALPN.

Each plaintext piece carries the frame of its first byte: with an AEAD suite plaintext byte i is ciphertext
byte i of the record (after TLS 1.2 GCM's explicit nonce), so the plaintext is split where the TCP segments
that carried the record's ciphertext begin. With CBC the same offsets are used; a byte is only readable once
its 16-byte block is whole, so for CBC this is the segment that began its block's bytes (approximate within a
block). A record that does not authenticate is never parsed: its direction stops there and the parser is told
bytes are missing. ``conn.tls`` is "decrypted" or one sentence on why not.
"""

from __future__ import annotations

from ..events import C2S, S2C, Connection, Direction
from ..events import TLS_DECRYPTED as DECRYPTED
from ..events import TLS_ENCRYPTED as _ENCRYPTED
from ..events import TLS_HANDSHAKE_ONLY as HANDSHAKE_ONLY
from ..events import TLS_NO_LOG as NO_LOG
from ..events import TLS_OTHER_ALPN as OTHER_ALPN
from ..events import TLS_SPARE as SPARE
from ..wire.keys import Keylog
from ..wire.stream import Stream
from ..wire.tls import (
    ALERT,
    APPLICATION_DATA,
    CHANGE_CIPHER_SPEC,
    CLIENT_HELLO,
    ENCRYPTED_EXTENSIONS,
    FINISHED,
    HANDSHAKE,
    HEADER,
    KEY_UPDATE,
    MAX_RECORD,
    SERVER_HELLO,
    TLS12,
    TLS12_SUITES,
    TLS13,
    TLS13_SUITES,
    BadRecord,
    ClientHello,
    Malformed,
    RecordKeys,
    ServerHello,
    Tls13Keys,
    alert_name,
    client_hello,
    encrypted_extensions,
    handshake_messages,
    record_header,
    server_hello,
    tls12_keys,
)
from .http1 import Http1Connection
from .http2 import Http2Connection

BEFORE_CAPTURE = (_ENCRYPTED + "the TLS handshake is not in the capture (the connection began before it), so no "
                  "keys can be found for it and what it says cannot be checked")
_HS_LIMIT = 256 * 1024  # handshake bytes kept per direction (a certificate chain fits many times over)
_HTTP1_ALPN = ("", "http/1.1", "http/1.0")
_RECORD_MAX = HEADER + MAX_RECORD  # the longest record, header included
# This module runs compiled (an extension module's file is not its source): then tls.pxd's C helper ``_c_cut`` copies
# a record out of its segment (it exists only there; tests turn this off to hold it to the slice it stands for).
_COMPILED = not __file__.endswith(".py")
_FACTS = 16  # connection facts kept (alerts and the like): state stays bounded whatever the capture holds


class _Side:
    __slots__ = ("app_keys", "encrypted", "hs", "keys", "lost", "pending12", "skipped", "stream", "trial")

    def __init__(self) -> None:
        self.stream = Stream()
        self.hs = bytearray()  # handshake bytes not yet a whole message
        self.keys: RecordKeys | None = None  # what opens this direction's records now
        self.app_keys: Tls13Keys | None = None  # TLS 1.3: the keys after this side's Finished
        self.pending12: RecordKeys | None = None  # TLS 1.2: the keys from this side's ChangeCipherSpec on
        self.encrypted = False  # its records are protected (whether or not we hold the keys)
        self.trial = False  # TLS 1.3 without handshake secrets: records that do not open are the handshake's
        self.skipped = 0  # records passed over while trying (taken for the handshake's)
        self.lost = False  # nothing more of this direction is read (a gap, a record that did not open)


class TlsConnection:
    """Feed it a TLS connection's in-order bytes per direction; the inner parser appends wire events to ``out``."""

    DIRECT = True  # read whole records straight from the segment (False: always through the buffer, for tests)

    def __init__(self, conn: Connection, out: list, keylog: Keylog) -> None:
        self.conn, self.out, self.keylog = conn, out, keylog
        self.direct = self.DIRECT
        self.sides = {C2S: _Side(), S2C: _Side()}
        self.inner: Http1Connection | Http2Connection | None = None
        self.hello: ClientHello | None = None
        self.shello: ServerHello | None = None
        self.alpn = ""
        self.failure = ""  # why the records cannot be read (no keys...)
        self.bad_record = ""  # the first record that did not authenticate
        self.data_records = 0  # application data records, opened or not
        self.gaps: list[tuple[Direction, int, float, int]] = []  # holes met before the inner parser began
        self.facts: list[str] = []
        self.alpn_read = False  # the server's ALPN choice was read (ServerHello, or EncryptedExtensions)
        self.spoke = False  # the first plaintext byte has been fed
        self.client_plaintext = 0
        self.trial_first: dict[Direction, int] = {}  # the first record passed over while trying, per direction
        self.unread: dict[Direction, int] = {}  # the first protected data record with no keys to open it

    @property
    def app(self) -> str:
        return self.inner.app if self.inner is not None and self.conn.tls != SPARE else "tls"

    # -- input ------------------------------------------------------------------------------

    def feed(self, direction: Direction, data: bytes, ts: float, frame: int) -> None:
        side = self.sides[direction]
        if side.lost:
            return
        s = side.stream
        if self.direct and type(data) is bytes and not s.buf:  # the common case: the segment begins a record
            at = self._whole(direction, side, data, ts, frame)
            if at < 0 or at == len(data):
                return
            data = data[at:]
        s.feed(data, ts, frame)
        while len(s.buf) >= 5:
            head = record_header(s.buf)
            if head is None:
                self._lose(direction, f"bytes that are not a TLS record at frame {s.where(0)[1]}")
                return
            end = 5 + head[2]
            if len(s.buf) < end:
                break
            record = bytes(s.buf[:end])
            marks = s.pieces(0, end)
            s.consume(end)
            self._record(direction, side, record, marks)
            if side.lost:
                return

    def _whole(self, direction: Direction, side: _Side, data: bytes, ts: float, frame: int) -> int:
        """The whole records at the start of a segment, read straight from it: where they end (the rest goes
        through the buffer), or -1 when one of them ended the direction's reading."""
        at, n = 0, len(data)
        while n - at >= 5:
            if not 20 <= data[at] <= 23 or data[at + 1] != 3:
                break  # not a record header: the buffered reading says so
            end = at + 5 + ((data[at + 3] << 8) | data[at + 4])
            if end > n or end - at > _RECORD_MAX:
                break
            record = _c_cut(data, at, end) if _COMPILED else data[at:end]  # noqa: F821 (compiled: no slice object)
            self._record(direction, side, record, [(0, ts, frame)])
            if side.lost:
                return -1
            at = end
        return at

    def gap(self, direction: Direction, missing: int, ts: float, frame: int) -> None:
        side = self.sides[direction]
        if missing == 0:  # the capture joined the connection mid-way: no handshake, no keys
            if self.hello is None and not self.failure:
                self.failure = BEFORE_CAPTURE
            side.lost = True
            side.stream.clear()
            return
        if side.lost:
            return
        side.lost = True
        side.stream.clear()
        self._fact(f"{missing} bytes of the {direction.value} TLS stream are missing (frame {frame})")
        if not self.bad_record:  # unlike cleartext, nothing after a hole can be read again: record framing is lost
            self.bad_record = (f"{missing} bytes of the {direction.value} TLS stream are missing at frame {frame} (not "
                               "captured): the records after them cannot be read")
        self._hole(direction, missing, ts, frame)

    def finish(self) -> None:
        conn = self.conn
        for d, side in self.sides.items():
            if side.stream.buf and not side.lost:
                # Its bytes cannot be authenticated, so not read: what they held (a client writing into an event
                # stream, say) is unknown, and the findings stand only on the bytes before them.
                cut = f"the capture ends inside a {d.value} TLS record at frame {side.stream.where(0)[1]}"
                self._fact(cut)
                if not self.bad_record:
                    self.bad_record = cut + " (or its length was damaged): its bytes cannot be authenticated"
            if side.trial and side.skipped and not self.bad_record:
                # Without handshake secrets a record that does not open passes for the handshake's; if none ever
                # opened, the direction's data (if any) was not read: damaged, or keys that do not fit.
                self.bad_record = (f"none of the {side.skipped} protected {d.value} TLS records at frame "
                                   f"{self.trial_first[d]} on opened with the key log's application secrets (and "
                                   "there are no handshake secrets to tell the handshake's records from the data's): "
                                   "wrong keys or damaged bytes")
        if self.inner is not None and self.unread and not self.bad_record:
            # Read in part: some data records came with no keys to open them (0-RTT early data, say).
            d, frame = min(self.unread.items(), key=lambda x: x[1])
            self.bad_record = (f"the protected {d.value} TLS record at frame {frame} came before its keys were known "
                               "(0-RTT early data is not read): what it held is unknown")
        if self.inner is not None:
            self.inner.finish()
        conn.alpn = self.alpn
        if self.bad_record:
            conn.tls = self.bad_record
        elif isinstance(self.inner, Http2Connection) and not self.client_plaintext:
            conn.tls = SPARE  # only the server's preface: nothing the client could be judged by
        elif self.inner is not None:
            conn.tls = DECRYPTED
        elif self.alpn not in _HTTP1_ALPN and self.alpn != "h2" and self.data_records and not self.failure:
            conn.tls = OTHER_ALPN + self.alpn
        elif self.shello is not None and not self.data_records:
            conn.tls = HANDSHAKE_ONLY
        elif self.failure:
            conn.tls = self.failure
        elif self.hello is None:
            conn.tls = BEFORE_CAPTURE
        else:
            conn.tls = _ENCRYPTED + "the server's hello is not in the capture, so its keys cannot be used"
        conn.tls_facts = "; ".join(self.facts)

    def pending_frame(self) -> int | None:
        """The first frame of a record still incomplete, or of what the inner parser has begun."""
        inner = self.inner
        if type(inner) is Http1Connection:  # (compiled: a C call; see ``_plaintext``)
            h1 = inner
            mark = h1.pending_frame()
        else:
            mark = inner.pending_frame() if inner is not None else None
        for side in self.sides.values():
            if side.stream.buf and not side.lost:
                p = side.stream.where(0)[1]
                if mark is None or p < mark:
                    mark = p
        return mark

    def _fact(self, fact: str) -> None:
        if len(self.facts) < _FACTS:
            self.facts.append(fact)

    # -- records ----------------------------------------------------------------------------

    def _record(self, d: Direction, side: _Side, record: bytes, marks: list[tuple[int, float, int]]) -> None:
        ctype = record[0]
        frame = marks[0][2]
        keys = side.keys
        if ctype == CHANGE_CIPHER_SPEC:
            fragment = record[5:]  # TLS 1.2: this side's records are protected from here; 1.3: compat, ignored
            tls12 = self.shello is not None and self.shello.version == TLS12
            if tls12 and side.keys is None:
                side.encrypted = True
                side.keys, side.pending12 = side.pending12, None
            elif not tls12 and fragment == b"\x01" and (side.keys is None or side.app_keys is not None or side.trial):
                pass  # TLS 1.3's middlebox-compatibility CCS, during the handshake only (RFC 8446 §5, D.4)
            else:  # renegotiation, a CCS after the handshake, or damage: nothing after it can be trusted
                self._bad(d, side, frame, record, marks, "is a ChangeCipherSpec where none may come (TLS 1.2 "
                          "renegotiation is not read, or the bytes are damaged)")
            return
        if keys is None:
            if side.encrypted or ctype == APPLICATION_DATA:
                if ctype == APPLICATION_DATA:
                    self.data_records += 1
                    self.unread.setdefault(d, frame)
                if self.hello is None and not self.failure:
                    self.failure = BEFORE_CAPTURE
                return  # protected, and no keys: conn.tls says why
            if ctype == HANDSHAKE:
                self._handshake_bytes(d, side, record[5:], frame)
            elif ctype == ALERT:
                self._fact(f"{'client' if d is C2S else 'server'} alert {alert_name(record[5:])} (frame {frame})")
            return
        try:
            inner_type, plain, offset = keys.open_record(record)
        except BadRecord:
            if side.trial:
                side.skipped += 1
                self.trial_first.setdefault(d, frame)
                return  # TLS 1.3 without handshake secrets: a handshake record, not yet the first that opens
            self._bad(d, side, frame, record, marks)
            return
        side.trial = False
        if inner_type == APPLICATION_DATA:
            self.data_records += 1
            self._plaintext(d, plain, 5 + offset, marks)
        elif inner_type == HANDSHAKE:
            self._handshake_bytes(d, side, plain, frame)
        elif inner_type == ALERT:
            self._fact(f"{'client' if d is C2S else 'server'} alert {alert_name(plain)} (frame {frame})")

    def _bad(self, d: Direction, side: _Side, frame: int, record: bytes, marks: list,
             why: str = "does not authenticate with the key log's secrets (wrong keys or damaged bytes)") -> None:
        if not self.bad_record:
            self.bad_record = (f"the TLS record at frame {frame} ({d.value}) {why}: it and what follows in its "
                               "direction are not read")
        side.lost = True
        side.stream.clear()
        ts = marks[0][1]
        self._hole(d, len(record), ts, frame)

    def _lose(self, d: Direction, what: str) -> None:
        side = self.sides[d]
        side.lost = True
        ts, frame = side.stream.where(0)
        missing = len(side.stream.buf)
        side.stream.clear()
        self._fact(f"the {d.value} stream holds {what}: not read further")
        if not self.bad_record:  # whatever came after (a response, say) is unread: never a pass on what remains
            self.bad_record = (f"the {d.value} TLS stream holds {what}: it and what follows in its direction are not "
                               "read")
        self._hole(d, missing, ts, frame)

    def _hole(self, d: Direction, missing: int, ts: float, frame: int) -> None:
        """Plaintext the inner parser will not get: told now, or when it is made (its ALPN not yet known)."""
        if self.inner is not None:
            self.inner.gap(d, missing, ts, frame)
        else:
            self.gaps.append((d, missing, ts, frame))

    # -- the handshake ----------------------------------------------------------------------

    def _handshake_bytes(self, d: Direction, side: _Side, data: bytes, frame: int) -> None:
        side.hs += data
        if len(side.hs) > _HS_LIMIT:
            self._lose(d, f"a handshake message over {_HS_LIMIT} bytes")
            return
        for kind, body in handshake_messages(side.hs):
            try:
                self._message(d, side, kind, body)
            except Malformed:
                self._fact(f"a malformed TLS handshake message (type {kind}, frame {frame})")
                if not self.failure and self.inner is None:
                    self.failure = _ENCRYPTED + f"its handshake cannot be read (frame {frame})"

    def _message(self, d: Direction, side: _Side, kind: int, body: bytes) -> None:
        if kind == CLIENT_HELLO and d is C2S:
            if self.hello is None:  # after a HelloRetryRequest the second ClientHello keeps the first's random
                self.hello = client_hello(body)
        elif kind == SERVER_HELLO and d is S2C:
            sh = server_hello(body)
            if not sh.retry and self.shello is None:
                self.shello = sh
                self.alpn, self.alpn_read = sh.alpn, sh.version != TLS13
                self._keys(sh)
        elif kind == ENCRYPTED_EXTENSIONS and d is S2C:
            self.alpn, self.alpn_read = encrypted_extensions(body), True
        elif kind == FINISHED and side.app_keys is not None:  # TLS 1.3: this side's handshake is over
            side.keys, side.app_keys = side.app_keys, None
        elif kind == KEY_UPDATE and isinstance(side.keys, Tls13Keys) and side.app_keys is None:
            side.keys = side.keys.updated()

    def _keys(self, sh: ServerHello) -> None:
        """The connection's record protection from the key store, once the ServerHello says version and suite."""
        if self.hello is None:
            self.failure = BEFORE_CAPTURE
            return
        if not self.keylog.holds_any():
            self.failure = NO_LOG
            return
        secrets = self.keylog(self.hello.random)
        if not secrets:
            self.failure = (_ENCRYPTED + f"the key log has no entry for its client random {self.hello.random.hex()} "
                            "(a log of other connections?), so what it says cannot be checked")
            return
        if sh.version == TLS13:
            self._keys13(sh, secrets)
        elif sh.version == TLS12:
            suite = TLS12_SUITES.get(sh.suite)
            master = secrets.get("CLIENT_RANDOM")
            if suite is None:
                self.failure = _ENCRYPTED + f"its TLS 1.2 cipher suite 0x{sh.suite:04x} is not one duplexlab reads"
            elif master is None:
                self.failure = (_ENCRYPTED + "the key log has no CLIENT_RANDOM master secret for its client random "
                                f"{self.hello.random.hex()}, so what it says cannot be checked")
            else:
                self.sides[C2S].pending12, self.sides[S2C].pending12 = tls12_keys(
                    suite, master, self.hello.random, sh.random, sh.etm)
        else:
            self.failure = _ENCRYPTED + f"its version 0x{sh.version:04x} is not TLS 1.2 or 1.3, which duplexlab reads"

    def _keys13(self, sh: ServerHello, secrets: dict[str, bytes]) -> None:
        if sh.suite not in TLS13_SUITES:
            self.failure = _ENCRYPTED + f"its TLS 1.3 cipher suite 0x{sh.suite:04x} is not one duplexlab reads"
            return
        names = {C2S: ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0"),
                 S2C: ("SERVER_HANDSHAKE_TRAFFIC_SECRET", "SERVER_TRAFFIC_SECRET_0")}
        if not all(app in secrets for _, app in names.values()):
            held = "its handshake secrets but" if any(hs in secrets for hs, _ in names.values()) else "entries but"
            self.failure = (_ENCRYPTED + f"the key log holds {held} no application traffic secrets "
                            "(CLIENT_TRAFFIC_SECRET_0, SERVER_TRAFFIC_SECRET_0) for it, so what it says cannot be "
                            "checked")
            return
        for d, (hs, app) in names.items():
            side = self.sides[d]
            side.encrypted = d is S2C  # the client's records are protected once it has read the server's flight
            if hs in secrets:
                side.keys, side.app_keys = Tls13Keys(secrets[hs], sh.suite), Tls13Keys(secrets[app], sh.suite)
            else:  # no handshake secrets: try the application keys on each record until one opens
                side.keys, side.trial = Tls13Keys(secrets[app], sh.suite), True

    # -- plaintext --------------------------------------------------------------------------

    def _plaintext(self, d: Direction, plain: bytes, start: int, marks: list[tuple[int, float, int]]) -> None:
        """Feed ``plain`` (record bytes from ``start`` on) in pieces, each with the segment of its first byte."""
        if not plain:
            return
        if self.inner is None and not self._begin(d, plain):
            return
        inner = self.inner
        n = len(plain)
        if d is C2S:
            self.client_plaintext += n
        if len(marks) == 1:  # the record came in one segment
            _, ts, frame = marks[0]
            if not self.spoke:
                self.conn.first_payload = (d, frame, ts)
                self.spoke = True
            if type(inner) is Http1Connection:  # (compiled: its feed called in C; a subclass takes the Python call)
                h1 = inner
                h1.feed(d, plain, ts, frame)
            else:
                inner.feed(d, plain, ts, frame)
            return
        cuts = [(min(max(pos - start, 0), n), ts, frame) for pos, ts, frame in marks]
        for i, (at, ts, frame) in enumerate(cuts):
            end = cuts[i + 1][0] if i + 1 < len(cuts) else n
            if end > at:
                if not self.spoke:
                    self.conn.first_payload = (d, frame, ts)  # who spoke first: the first plaintext byte
                    self.spoke = True
                inner.feed(d, plain[at:end], ts, frame)

    def _begin(self, d: Direction, plain: bytes) -> bool:
        """Choose the inner parser from the ALPN (the ClientHello's offer, then the bytes, when the server's
        choice could not be read); False when the ALPN is one duplexlab does not judge."""
        alpn = self.alpn
        if not self.alpn_read:
            offered = self.hello.alpn if self.hello is not None else ()
            if len(offered) == 1:
                alpn = offered[0]
            elif "h2" in offered and (plain.startswith(b"PRI * HTTP/2.0") if d is C2S else
                                      len(plain) >= 9 and plain[3] == 4 and not plain.startswith(b"HTTP/")):
                alpn = "h2"
            self.alpn = alpn
        if alpn == "h2":
            self.inner = Http2Connection(self.conn, self.out)
        elif alpn in _HTTP1_ALPN:
            self.inner = Http1Connection(self.conn, self.out)
        else:
            return False
        for gap in self.gaps:
            self.inner.gap(*gap)
        self.gaps.clear()
        return True
