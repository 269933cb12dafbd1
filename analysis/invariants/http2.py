"""HTTP/2 invariants (RFC 9113) for http2, h2push and grpc: who opens streams, and push only as promised."""

from __future__ import annotations

from collections import defaultdict

from ..events import C2S, S2C, Event, H2Frame, H2Preface, Http1Request, Http1Response, Undecodable
from ..findings import Finding, Status
from ..protocols.dissect import Dissection
from . import invariant
from .common import by_conn, conclude, make, per_connection, plural

_SETTINGS, _PRIORITY, _PUSH_PROMISE, _HEADERS, _DATA = 4, 2, 5, 1, 0
H2_APPS = ("http2", "grpc")


def _upgrade_request(events: list[Event]) -> Http1Request | None:
    """On h2c via Upgrade, the HTTP/1.1 request that opened stream 1 (RFC 9113 §3.2 of RFC 7540)."""
    if not any(isinstance(e, Http1Response) and e.status == 101 for e in events):
        return None
    return next((e for e in events if isinstance(e, Http1Request) and "h2c" in e.upgrade), None)


def stream_frames(events: list[Event]) -> dict[int, list[H2Frame]]:
    """Frames per stream id (stream 0 excluded), in wire order."""
    out: dict[int, list[H2Frame]] = defaultdict(list)
    for e in events:
        if isinstance(e, H2Frame) and e.stream:
            out[e.stream].append(e)
    return out


@invariant("http2.client-preface", "protocol", "RFC 9113 §3.4 (connection preface)")
def client_preface(d: Dissection) -> Finding:
    """The client's first bytes are the preface; the server's first frame is SETTINGS on stream 0."""
    violations, evidence, judged, early_settings = [], [], 0, 0
    for conn, events in per_connection(d, H2_APPS):
        judged += 1
        preface = next((e for e in events if isinstance(e, H2Preface)), None)
        bad = next((e for e in events if isinstance(e, Undecodable) and e.direction is C2S
                    and "preface" in e.reason), None)
        if preface is None or bad is not None:
            where = bad.frame if bad else conn.first_frame
            violations.append((where, f"the client on {conn.describe()} did not open with the connection preface"))
            continue
        evidence.append(preface.frame)
        first_server = next((e for e in events if isinstance(e, H2Frame) and e.direction is S2C), None)
        if first_server is not None:
            evidence.append(first_server.frame)
            if first_server.ftype != _SETTINGS or first_server.stream != 0:
                violations.append((first_server.frame, f"the server's first frame on {conn.describe()} is "
                                   f"{first_server.type_name} on stream {first_server.stream}, not SETTINGS on 0"))
            elif first_server.frame < preface.frame:
                early_settings += 1
    note = (f"On {plural(early_settings, 'connection')} the server's SETTINGS reached the wire before the client's "
            "preface: allowed (RFC 9113 §3.4), a connection-level fact, not the server answering first."
            if early_settings else "")
    return conclude("http2.client-preface", violations, evidence, judged, "HTTP/2 connections", [note])


@invariant("http2.streams-client-initiated", "protocol", "RFC 9113 §5.1.1 (odd streams are the client's)")
def streams_client_initiated(d: Dissection) -> Finding:
    """Every odd stream starts with a HEADERS frame from the client."""
    violations, evidence, judged = [], [], 0
    for conn, events in per_connection(d, H2_APPS):
        upgrade = _upgrade_request(events)
        if upgrade is not None:
            judged += 1  # stream 1 was opened by the client's HTTP/1.1 Upgrade request
            evidence.append(upgrade.frame)
        for sid, frames in stream_frames(events).items():
            if sid % 2 == 0 or (upgrade is not None and sid == 1):
                continue
            first = next((f for f in frames if f.ftype != _PRIORITY), None)
            if first is None:
                continue
            judged += 1
            evidence.append(first.frame)
            if not (first.direction is C2S and first.ftype == _HEADERS):
                who = "client" if first.direction is C2S else "server"
                violations.append((first.frame, f"stream {sid} on {conn.describe()} began with a {who} "
                                   f"{first.type_name} (frame {first.frame}), not a client HEADERS"))
    return conclude("http2.streams-client-initiated", violations, evidence, judged, "client streams")


@invariant("http2.response-follows-request", "protocol", "RFC 9113 §8.1 (a response answers a request)")
def response_follows_request(d: Dissection) -> Finding:
    """On a client stream, no server frame precedes the client's HEADERS."""
    violations, evidence, judged = [], [], 0
    for _conn, events in per_connection(d, H2_APPS):
        upgrade = _upgrade_request(events)
        for sid, frames in stream_frames(events).items():
            if sid % 2 == 0:
                continue
            asked = next((f for f in frames if f.direction is C2S and f.ftype == _HEADERS), None)
            if upgrade is not None and sid == 1:
                asked = upgrade
            answers = [f for f in frames if f.direction is S2C]
            if not answers:
                continue
            judged += 1
            early = [f for f in answers if asked is None or f.frame < asked.frame]
            evidence.append(answers[0].frame)
            for f in early[:1]:
                violations.append((f.frame, f"the server sent {f.type_name} on stream {sid} (frame {f.frame}) "
                                   "before the client's HEADERS on it"))
    return conclude("http2.response-follows-request", violations, evidence, judged, "answered client streams")


@invariant("http2.push-promised", "protocol", "RFC 9113 §5.1.1, §8.4 (server push)")
def push_promised(d: Dissection) -> Finding:
    """Every even stream was announced by a server PUSH_PROMISE on an open client stream before its first frame."""
    violations, evidence, judged, pushed = [], [], 0, 0
    for _conn, events in per_connection(d, H2_APPS):
        judged += 1
        promises: dict[int, int] = {}  # promised stream -> index of the PUSH_PROMISE in events
        opened: set[int] = set()
        for i, e in enumerate(events):
            if not isinstance(e, H2Frame):
                continue
            if e.ftype == _HEADERS and e.direction is C2S:
                opened.add(e.stream)
            if e.ftype == _PUSH_PROMISE:
                if e.direction is C2S:
                    violations.append((e.frame, f"the client sent PUSH_PROMISE (frame {e.frame}); only servers push"))
                elif e.stream not in opened:
                    violations.append((e.frame, f"PUSH_PROMISE at frame {e.frame} rides stream {e.stream}, "
                                       "which the client never opened"))
                else:
                    promises.setdefault(e.promised, i)
                    evidence.append(e.frame)
            elif e.stream and e.stream % 2 == 0 and e.ftype != _PRIORITY:
                if e.stream not in promises:
                    violations.append((e.frame, f"stream {e.stream} carries {e.type_name} at frame {e.frame} "
                                       "but was never promised"))
                    promises[e.stream] = i  # report each stream once
                elif e.direction is S2C and e.ftype == _HEADERS:
                    pushed += 1
    note = f"{plural(pushed, 'pushed stream')} seen." if pushed else "No server-initiated stream in the capture."
    return conclude("http2.push-promised", violations, evidence, judged, "HTTP/2 connections", [note])


def _push_disabled(events: list[Event]) -> tuple[H2Frame | None, int]:
    """The client's SETTINGS with ENABLE_PUSH=0 and the index from which the server had acknowledged it."""
    for i, e in enumerate(events):
        if isinstance(e, H2Frame) and e.direction is C2S and e.ftype == _SETTINGS and e.enable_push == 0:
            ack = next((j for j in range(i + 1, len(events)) if isinstance(events[j], H2Frame)
                        and events[j].direction is S2C and events[j].ftype == _SETTINGS and events[j].flags & 1),
                       len(events))
            return e, ack
    return None, len(events)


@invariant("http2.push-disabled-respected", "protocol", "RFC 9113 §6.5.2, §8.4 (SETTINGS_ENABLE_PUSH)")
def push_disabled_respected(d: Dissection) -> Finding:
    """No PUSH_PROMISE once the server has acknowledged a client SETTINGS with ENABLE_PUSH=0."""
    violations, evidence, judged = [], [], 0
    for _conn, events in per_connection(d, H2_APPS):
        settings, acked = _push_disabled(events)
        if settings is None:
            continue
        judged += 1
        evidence.append(settings.frame)
        for e in events[acked:]:
            if isinstance(e, H2Frame) and e.ftype == _PUSH_PROMISE and e.direction is S2C:
                violations.append((e.frame, f"the server pushed (frame {e.frame}) although the client disabled "
                                   f"push at frame {settings.frame}"))
    if judged == 0:
        return make("http2.push-disabled-respected", Status.OK, (),
                    "no client disabled push: nothing to respect (holds trivially).")
    return conclude("http2.push-disabled-respected", violations, evidence, judged, "push-disabled connections")


@invariant("http2.multiplexed", "scenario", "RFC 9113 §5 (streams and multiplexing)")
def multiplexed(d: Dissection) -> Finding:
    """At least two streams are open at once on one connection, with their DATA interleaved."""
    for events in by_conn(e for e in d.events if isinstance(e, H2Frame) and e.ftype == _DATA).values():
        last_seen: dict[int, H2Frame] = {}
        prev = None
        for f in events:
            if prev is not None and f.stream != prev.stream and f.stream in last_seen:
                a = last_seen[f.stream]
                return make("http2.multiplexed", Status.OK, (a.frame, prev.frame, f.frame),
                            f"DATA of stream {f.stream} (frames {a.frame}, {f.frame}) is interleaved with "
                            f"DATA of stream {prev.stream} (frame {prev.frame}) on one connection.")
            last_seen[f.stream] = f
            prev = f
    return make("http2.multiplexed", Status.VIOLATED, (), "no connection interleaved the DATA of two streams.")


@invariant("h2push.push-observed", "scenario", "RFC 9113 §8.4 (server push)")
def push_observed(d: Dissection) -> Finding:
    """A PUSH_PROMISE whose promised stream carries the server's HEADERS and DATA; and none where push is off."""
    shown, quiet = None, None
    for _conn, events in per_connection(d, H2_APPS):
        settings, _ = _push_disabled(events)
        promises = [e for e in events if isinstance(e, H2Frame) and e.ftype == _PUSH_PROMISE]
        if settings is not None and not promises:
            quiet = quiet or settings
        for p in promises:
            on = [e for e in events if isinstance(e, H2Frame) and e.stream == p.promised and e.direction is S2C]
            heads = [e for e in on if e.ftype == _HEADERS]
            data = [e for e in on if e.ftype == _DATA]
            if heads and data and shown is None:
                shown = (p, heads[0], data[0])
    if shown is None:
        return make("h2push.push-observed", Status.VIOLATED, (),
                    "no PUSH_PROMISE was followed by the pushed stream's HEADERS and DATA.")
    p, h, dt = shown
    if quiet is None:
        return make("h2push.push-observed", Status.VIOLATED, (p.frame,),
                    "push was seen, but no client with SETTINGS_ENABLE_PUSH=0 was there to show its absence.")
    return make("h2push.push-observed", Status.OK, (p.frame, h.frame, dt.frame, quiet.frame),
                f"PUSH_PROMISE on stream {p.stream} (frame {p.frame}) promised stream {p.promised}, whose HEADERS "
                f"(frame {h.frame}) and DATA (frame {dt.frame}) followed; the client that disabled push "
                f"(frame {quiet.frame}) got none.")
