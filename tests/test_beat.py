"""The lab servers' one clock (services/common/beat.py): responses streamed on it interleave by construction.

Issue 23: two responses that each slept on their own timer interleaved only when the timers fell right; on a busy
host they did not (http3.multiplexed failed once). On one Beat, every open response writes one piece per beat, so
two responses open at once alternate, however late the beats come.
"""

from __future__ import annotations

import asyncio
import itertools
import time

from services.common.beat import Beat

EVERY = 0.03


async def _respond(beat: Beat, name: str, pieces: int, wire: list[tuple[str, float]]) -> None:
    for _ in range(pieces):
        await beat()
        wire.append((name, time.monotonic()))


def _run(coro):
    """Run ``coro`` on a loop of its own, leaving the thread's event loop alone (asyncio.run would unset it, and
    pyshark in later tests asks for it)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def _alternates(wire: list[tuple[str, float]]) -> bool:
    """Some piece of one response lies between two pieces of another (what http2/http3.multiplexed look for)."""
    names = [n for n, _ in wire]
    return any(names[i] != names[i + 1] and names[i] in names[i + 2:] for i in range(len(names) - 2))


def test_two_responses_on_one_beat_alternate_and_keep_their_pace():
    async def run() -> list[tuple[str, float]]:
        beat, wire = Beat(EVERY), []
        first = asyncio.ensure_future(_respond(beat, "a", 5, wire))
        await asyncio.sleep(EVERY * 1.5)  # the second response opens between two beats
        await asyncio.gather(first, _respond(beat, "b", 3, wire))
        return wire

    wire = _run(run())
    names = [n for n, _ in wire]
    assert sorted(names) == ["a"] * 5 + ["b"] * 3
    start = names.index("b") - 1  # from the beat b joined, each of b's beats gives a piece of a first, then b's
    assert names[start:start + 6] == ["a", "b"] * 3, names
    assert _alternates(wire)
    for name in "ab":
        times = [t for n, t in wire if n == name]
        assert all(b - a >= EVERY * 0.9 for a, b in itertools.pairwise(times)), (name, times)


def test_a_stalled_loop_delays_every_response_together_and_they_still_alternate():
    """The host is busy: the event loop is blocked for several beats at a time. With a timer each, the late timers
    fire together and one response's pieces may bunch; on one beat each beat still gives one piece to each."""

    async def stall(times: int) -> None:
        for _ in range(times):
            await asyncio.sleep(EVERY / 2)
            time.sleep(EVERY * 3)  # the loop can run nothing else meanwhile

    async def run() -> list[tuple[str, float]]:
        beat, wire = Beat(EVERY), []
        await asyncio.gather(_respond(beat, "a", 4, wire), _respond(beat, "b", 4, wire), stall(6))
        return wire

    wire = _run(run())
    names = [n for n, _ in wire]
    assert sorted(names) == ["a"] * 4 + ["b"] * 4
    assert all(names[i:i + 2] in (["a", "b"], ["b", "a"]) for i in range(0, 8, 2)), names  # a piece of each per beat
    assert _alternates(wire)

