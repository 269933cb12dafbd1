"""What several protocols' invariants share: the "unprompted" rule, and the syntax check's shape."""

from __future__ import annotations

from typing import ClassVar

from ..events import C2S, Direction, Event, Undecodable
from ..findings import MAX_FRAMES
from . import Check


class SyntaxCheck(Check):
    """Where a message of the protocol is due, each peer's bytes are one: every message read counts as judged;
    bytes the parser of ``parsers`` could not read are a violation when malformed, unreadable when lost."""

    parsers: ClassVar[tuple[str, ...]] = ()
    not_what: ClassVar[str] = ""  # "not HTTP/1.x where a message was due"

    def handler(self, kind: type[Event]):
        return self.feed if kind is Undecodable else self._read

    def _read(self, e: Event) -> None:
        """A message read whole: judged, and its frame is evidence (``saw``, inline)."""
        self.judged += 1
        if len(self.evidence) < MAX_FRAMES:
            self.evidence.append(e.frame)

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

    def message(self, key: object, direction: Direction, frame: int) -> None:
        if direction is C2S:
            self.prompted[key] = True
        elif self.prompted.pop(key, False) is False:
            self.count += 1
            if len(self.frames) < MAX_FRAMES:
                self.frames.append(frame)
        else:
            self.prompted[key] = False

    def forget(self, conn: int, keyed_by_conn: bool = True) -> None:
        if keyed_by_conn:
            self.prompted.pop(conn, None)
        else:
            for key in [k for k in self.prompted if k[0] == conn]:
                del self.prompted[key]
