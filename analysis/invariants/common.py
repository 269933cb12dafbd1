"""Helpers every invariant module shares: building findings and picking the HTTP/1.x connections."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator

from ..events import C2S, Connection, Event, StreamGap
from ..findings import MAX_FRAMES, Finding, Status
from ..protocols.dissect import Dissection

HTTP1_APPS = ("http1", "websocket", "tunnel")


def make(inv_id: str, status: Status, frames: Iterable[int] = (), detail: str = "") -> Finding:
    from . import REGISTRY  # late: the registry is filled while this module is imported

    inv = REGISTRY[inv_id]
    uniq = sorted(set(frames))[:MAX_FRAMES]
    return Finding(inv_id, status, tuple(uniq), detail, inv.source, inv.kind)


def conclude(inv_id: str, violations: list[tuple[int, str]], evidence: list[int], judged: int,
             subject: str, notes: Iterable[str] = ()) -> Finding:
    """The usual shape: violated if anything broke, inconclusive if nothing could be judged, else ok."""
    tail = "".join(f" {n}" for n in notes if n)
    if violations:
        first = violations[0][1]
        more = f" ({len(violations)} in all)" if len(violations) > 1 else ""
        return make(inv_id, Status.VIOLATED, [f for f, _ in violations], f"{first}{more}.{tail}")
    if judged == 0:
        return make(inv_id, Status.INCONCLUSIVE, (), f"no {subject} in the capture to judge.{tail}")
    return make(inv_id, Status.OK, evidence, f"holds on {judged} {subject}.{tail}")


def http1_connections(d: Dissection) -> list[Connection]:
    return [c for c in d.connections if c.app in HTTP1_APPS]


def per_connection(d: Dissection, apps: tuple[str, ...]) -> Iterator[tuple[Connection, list[Event]]]:
    """Each connection of the given application protocols with its events, in wire order."""
    grouped = by_conn(d.events)
    for conn in d.connections:
        if conn.app in apps:
            yield conn, grouped.get(conn.id, [])


def by_conn(events: Iterable[Event]) -> dict[int, list[Event]]:
    out: dict[int, list[Event]] = defaultdict(list)
    for e in events:
        out[e.conn].append(e)
    return out


def joined_mid_stream(conn: Connection, events: list[Event]) -> bool:
    """True when the capture began after this connection did (no SYN, or a direction starts mid-stream)."""
    return not conn.handshake_seen or any(isinstance(e, StreamGap) and e.missing == 0 for e in events)


def unprompted(messages: Iterable[Event]) -> list[Event]:
    """Server messages with no client message since the previous server message (one exchange's order).

    The first server message counts when no client message came before it. A run of
    server messages after one client message: the first may be an answer, the rest were not asked for."""
    out, prompted = [], False
    for e in messages:
        if e.direction is C2S:
            prompted = True
        else:
            if not prompted:
                out.append(e)
            prompted = False
    return out


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")
