"""What several protocols' invariants share: the "unprompted" rule, the syntax check's shape, and how state kept in
extension types when compiled is pickled."""

from __future__ import annotations

from bisect import bisect_right
from typing import ClassVar

from ..events import C2S, WS_DATA_OPCODES, Direction, Event, Undecodable, WsFrame
from ..findings import MAX_FRAMES, Finding
from . import Check


class SyntaxCheck(Check):
    """Where a message of the protocol is due, each peer's bytes are one: every message read counts as judged;
    bytes the parser of ``parsers`` could not read are a violation when malformed, unreadable when lost."""

    parsers: ClassVar[tuple[str, ...]] = ()
    not_what: ClassVar[str] = ""  # "not HTTP/1.x where a message was due"
    __slots__ = ("reads",)

    def __init__(self, conn) -> None:
        super().__init__(conn)
        self.reads = _Reads(self.evidence)  # the messages read whole: the judge hands them to it

    def handler(self, kind: type[Event]):
        return self.feed if kind is Undecodable else self.reads.read

    def conclude(self) -> Finding:
        reads = self.reads
        self.judged += reads.judged
        reads.judged = 0
        return super().conclude()

    def feed(self, e: Event) -> None:
        if not isinstance(e, Undecodable):
            self.saw(e.frame)
        elif e.protocol in self.parsers:
            if not e.malformed:
                self.cannot_read(e.reason)
            elif not self.excused(e):
                who = "client" if e.direction is C2S else "server"
                self.violate(e.frame, f"the {who}'s bytes at frame {e.frame} are {self.not_what}: {e.reason}")

    def excused(self, e: Undecodable) -> bool:
        """Malformed bytes another invariant reports by name."""
        return False


class _Reads:
    """A syntax check's messages read whole: each is judged, and its frame is evidence (``Check.saw``, counted here
    and added to the check's count when it concludes). Compiled, an extension type with C-typed fields (common.pxd):
    ``read``, called with every message, counts in C."""

    __slots__ = ("evidence", "judged")

    def __init__(self, evidence: list[int]) -> None:
        self.evidence = evidence  # the check's own list
        self.judged = 0

    def read(self, e: Event) -> None:
        self.judged += 1
        evidence = self.evidence
        if len(evidence) < MAX_FRAMES:
            evidence.append(e.frame)


class Unprompted:
    """Server messages with no client message since the previous server message, per exchange key.

    The first server message counts when no client message came before it. In a run of server
    messages after one client message, the first may be an answer; the rest were not asked for.
    One rule for WebSocket frames (keyed by connection) and gRPC messages (by stream)."""

    __slots__ = ("count", "frames", "prompted")

    def __init__(self) -> None:
        self.prompted: dict[object, bool] = {}
        self.count = 0
        self.frames: list[int] = []

    def __reduce__(self):
        """Pickled (with its tracker, -j) as its fields' values: compiled, an extension type (common.pxd)."""
        return _unprompted, (slot_values(self),)

    def message(self, key: object, direction: Direction, frame: int) -> None:
        _message(self, key, direction, frame)

    def frame(self, e: WsFrame) -> None:
        """A WebSocket frame, keyed by its connection: a data frame is a message, a control frame passes by. (The
        WebSocket tracker's handler itself: one call a frame.)"""
        if e.opcode in WS_DATA_OPCODES:  # ``e.is_data``, without the property's call
            _message(self, e.conn, e.direction, e.frame)

    def forget(self, conn: int, keyed_by_conn: bool = True) -> None:
        if keyed_by_conn:
            self.prompted.pop(conn, None)
        else:
            for key in [k for k in self.prompted if k[0] == conn]:
                del self.prompted[key]


def _message(u: Unprompted, key: object, direction: Direction, frame: int) -> None:
    """``Unprompted.message``: one message of ``key`` (a module function: compiled, its callers here call it in C)."""
    if direction is C2S:
        u.prompted[key] = True
    elif u.prompted.pop(key, False) is False:
        u.count += 1
        if len(u.frames) < MAX_FRAMES:
            u.frames.append(frame)
    else:
        u.prompted[key] = False


class StreamIds:
    """A set of HTTP/2 stream ids of one parity, sized by its holes instead of its members.

    A new stream's id exceeds every id its opener used before (RFC 9113 §5.1.1), so ids arrive nearly in
    order: the set keeps the highest member and the ranges of ids below it that are not members (skipped, or not
    yet seen), and a connection with 10^6 streams one after another costs two integers. Beyond ``HOLES`` ranges
    the oldest is forgotten (its ids then count as members: a check misses a first frame there, never invents one).
    """

    __slots__ = ("high", "holes", "step")
    HOLES = 4096

    def __init__(self, odd: bool) -> None:
        self.high = -1 if odd else 0  # the highest member (or one step below the first id)
        self.step = 2
        self.holes: list[list[int]] = []  # sorted [first, last] ranges below ``high`` that are not members

    def __contains__(self, sid: int) -> bool:
        if sid > self.high or sid <= 0:
            return False
        holes = self.holes
        if not holes:
            return True
        i = bisect_right(holes, [sid, 1 << 40]) - 1
        return i < 0 or holes[i][1] < sid

    def add(self, sid: int) -> None:
        if sid > self.high:
            if sid > self.high + self.step:
                self.holes.append([self.high + self.step, sid - self.step])
                if len(self.holes) > self.HOLES:
                    del self.holes[0]
            self.high = sid
            return
        holes = self.holes
        i = bisect_right(holes, [sid, 1 << 40]) - 1
        if i < 0 or holes[i][1] < sid:
            return  # already a member
        first, last = holes[i]
        pieces = [r for r in ([first, sid - self.step], [sid + self.step, last]) if r[0] <= r[1]]
        holes[i:i + 1] = pieces


# State held in a class that is an extension type when compiled (declared in its module's .pxd: C-typed fields) and
# pickled with its judge (-j, --cluster): pickle cannot find such a class by name (its module is the name it was
# compiled under, which no one imports), so its ``__reduce__`` gives a function of its own module, which pickle
# finds, and the values of its ``__slots__`` (each path declares the same fields): either path reads what either
# wrote.
def slot_values(obj: object) -> tuple:
    """The values of ``obj``'s fields (its class's ``__slots__``), in order: what ``restore`` takes."""
    return tuple(getattr(obj, name) for name in type(obj).__slots__)


def _unprompted(values: tuple) -> Unprompted:
    """An Unprompted made again from its pickle."""
    return restore(Unprompted, values)


def restore(cls: type, values: tuple) -> object:
    """An object of ``cls`` with its ``__slots__`` set to ``values`` (``slot_values``), made without its
    ``__init__``."""
    obj = cls.__new__(cls)
    for name, value in zip(cls.__slots__, values, strict=True):
        setattr(obj, name, value)
    return obj
