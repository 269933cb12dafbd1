"""WebSocket invariants (RFC 6455): the handshake, masking by direction, framing, and who originates messages."""

from __future__ import annotations

from typing import ClassVar

from ..events import C2S, S2C, Direction, Event, Http1Request, Http1Response, Undecodable, WsFrame
from ..findings import MAX_FRAMES, Finding
from . import Check, Expectation, Tracker, plural, register
from .common import SyntaxCheck, Unprompted

SCENARIO_MIN_UNPROMPTED = 5


@register
class Upgrade(Check):
    """A client GET with Upgrade: websocket precedes the server's 101; nothing but the 101 answers it."""

    id = "websocket.upgrade"
    source = "RFC 6455 §4.1-§4.2 (opening handshake)"
    wants = (Http1Request, Http1Response, WsFrame, Undecodable)
    subject = "WebSocket handshakes"
    by_roles = True
    family = "websocket"
    body_blind = True  # holes after the 101 (settled) or inside an earlier known-length body cost nothing
    __slots__ = ("asked", "last", "mid", "switched")

    @classmethod
    def joining(cls, conn, traits) -> Upgrade:
        check = cls(conn)
        check.last = traits.last_request  # joining on a 101: the request it answered came before
        check.mid = traits.mid
        return check

    def __init__(self, conn) -> None:
        super().__init__(conn)
        self.last: Http1Request | None = None
        self.asked: Http1Request | None = None  # the Upgrade: websocket request awaiting its answer
        self.switched = False
        self.mid = False  # the capture began inside the connection: a request may have come before it

    def handler(self, kind: type[Event]):
        # Once switched, a WebSocket frame changes nothing here (both of its branches need the switch still due):
        # the judge builds a kind's handlers at its first event, so a connection's frames after the 101 skip this.
        return None if kind is WsFrame and self.switched else self.feed

    def feed(self, e: Event) -> None:
        if isinstance(e, Http1Request):
            self.last = e
            if "websocket" in e.upgrade:
                self.asked = e
        elif isinstance(e, Http1Response):
            if e.status == 101 and "websocket" in e.upgrade:
                asked = self.last
                if asked is None and self.mid:  # its request was sent before the capture began: not in it
                    self.cannot_read(f"the 101 of frame {e.frame} answered a request sent before the capture began")
                    self.switched = True
                    self.settled = e.frame
                    return
                self.saw(e.frame)
                if asked is None or asked.method != "GET" or "websocket" not in asked.upgrade:
                    self.violate(e.frame, f"the server switched to WebSocket (frame {e.frame}) without a GET asking "
                                 "for Upgrade: websocket")
                else:
                    self.evidence.append(asked.frame)
                self.switched = True
                self.settled = e.frame
            elif self.asked is not None and not self.switched and not e.interim:
                self.saw(e.frame)  # declined (a 4xx, say): a correct answer, and no frames may follow
                self.asked = None
        elif isinstance(e, WsFrame):
            if not self.switched and self.conn.joined and self.last is None:
                self.switched = True  # joined mid-session: the handshake was before the capture
                self.cannot_read("the WebSocket began before the capture, so its handshake is not in it")
            elif not self.switched:
                self.violate(e.frame, f"a WebSocket frame (frame {e.frame}) preceded the 101")
        elif e.direction is S2C and e.protocol == "http1" and e.malformed and self.asked is not None \
                and not self.switched:
            self.violate(e.frame, f"the server sent bytes at frame {e.frame} that are not its answer to the Upgrade "
                         f"request of frame {self.asked.frame} ({e.reason}): WebSocket data before the 101")

    def finish(self) -> Finding:
        if self.asked is not None and not self.judged and not self.violations:
            self.notes.append(f"The Upgrade request of frame {self.asked.frame} got no answer in the capture.")
        return self.conclude()


class _Masking(Check):
    direction: Direction
    want_masked: bool
    wants = (WsFrame, Undecodable)
    family = "websocket"
    by_roles = True
    self_evident = True  # a frame masked the wrong way is wrong whatever else is missing
    __slots__ = ("masks",)

    def __init__(self, conn) -> None:
        super().__init__(conn)
        self.masks = _Masks(self.evidence, self.want_masked, "client" if self.direction is C2S else "server")

    def handler(self, kind: type[Event]):
        return self.masks.frame if kind is WsFrame else self.feed  # (the judge hands it only ``only``'s direction)

    def conclude(self) -> Finding:
        """The frames judged and the ones masked the wrong way, told by ``masks`` (it counted them), then concluded."""
        masks = self.masks
        self.judged += masks.judged
        for frame, sentence in masks.wrong:
            self.violate(frame, sentence)
        self.violation_count += masks.wrong_count - len(masks.wrong)
        masks.judged = masks.wrong_count = 0  # (told once)
        masks.wrong = []
        return super().conclude()

    def feed(self, e: Event) -> None:
        if e.direction is not self.direction:
            return
        if isinstance(e, WsFrame):
            self.masks.frame(e)
        elif e.protocol == "websocket":
            if e.malformed:
                self.notes.append(f"Framing broke at frame {e.frame}; later frames were not read.")
            else:
                self.cannot_read(e.reason)


class _Masks:
    """A masking check's frames (of its direction): each judged, its frame evidence (``Check.saw``), and the ones
    masked the wrong way kept as violations (``Check.violate``); counted here, told to the check when it concludes.
    Compiled, an extension type with C-typed fields (websocket.pxd): ``frame``, called with every frame, counts in C.
    (It lives with its connection, never pickled; it holds the check's evidence list, not the check.)"""

    __slots__ = ("evidence", "judged", "want_masked", "who", "wrong", "wrong_count")

    def __init__(self, evidence: list[int], want_masked: bool, who: str) -> None:
        self.evidence = evidence  # the check's own list
        self.want_masked, self.who = want_masked, who
        self.judged = self.wrong_count = 0
        self.wrong: list[tuple[int, str]] = []  # (frame, sentence) of the first MAX_FRAMES masked the wrong way

    def frame(self, e: WsFrame) -> None:
        self.judged += 1
        evidence = self.evidence
        if len(evidence) < MAX_FRAMES:
            evidence.append(e.frame)
        if e.masked != self.want_masked:
            self.wrong_count += 1
            if len(self.wrong) < MAX_FRAMES:
                self.wrong.append((e.frame, f"a {self.who} {e.opcode_name} frame at frame {e.frame} is "
                                   f"{'not masked' if self.want_masked else 'masked'}"))


@register
class ClientFramesMasked(_Masking):
    """Every client-to-server frame is masked."""

    id = "websocket.client-frames-masked"
    source = "RFC 6455 §5.1, §5.3 (clients mask every frame)"
    subject = "client frames"
    direction = only = C2S
    want_masked = True
    needs = (C2S,)


@register
class ServerFramesUnmasked(_Masking):
    """No server-to-client frame is masked."""

    id = "websocket.server-frames-unmasked"
    source = "RFC 6455 §5.1 (servers never mask)"
    subject = "server frames"
    direction = only = S2C
    want_masked = False
    needs = (S2C,)


@register
class FrameSyntax(SyntaxCheck):
    """After the 101 each side's bytes are well-formed WebSocket frames (known opcodes, short final control frames, a
    64-bit length with its top bit clear)."""

    id = "websocket.frame-syntax"
    source = "RFC 6455 §5.2 (base framing), §5.5 (control frames)"
    wants = (WsFrame, Undecodable)
    subject = "frames"
    family = "websocket"
    parsers = ("websocket",)
    not_what = "not a WebSocket frame"


@register
class ServerFrames(Tracker):
    """Server data frames sent with no client data frame since the previous server data frame."""

    wants = (WsFrame,)

    def __init__(self) -> None:
        self.unprompted = Unprompted()

    def handler(self, kind: type[Event]):
        return self.unprompted.frame  # one call a frame

    def feed(self, e: WsFrame) -> None:
        self.unprompted.frame(e)

    def ended(self, conn: int) -> None:
        self.unprompted.forget(conn)

    def merge(self, other: ServerFrames) -> None:
        self.unprompted.count += other.unprompted.count


@register
class ServerOriginates(Expectation):
    """At least N server data frames were sent unprompted (no client data frame since the previous one)."""

    id = "websocket.server-originates"
    source = "RFC 6455 §1.1 (either side may send at any time)"
    limits: ClassVar[dict] = {"at_least": SCENARIO_MIN_UNPROMPTED}  # unprompted server data frames

    def conclude(self, trackers) -> Finding:
        u = trackers[ServerFrames].unprompted
        if u.count >= self.at_least:
            return self.make(True, u.frames, f"{plural(u.count, 'server data frame')} went out with no client frame "
                             "before them.")
        return self.make(False, u.frames, f"only {plural(u.count, 'unprompted server data frame')}; the scenario "
                         f"expects at least {self.at_least}.")
