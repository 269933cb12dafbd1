"""What several protocols' invariants share: the "unprompted" rule for who spoke without being asked."""

from __future__ import annotations

from ..events import C2S, Direction
from ..findings import MAX_FRAMES


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
