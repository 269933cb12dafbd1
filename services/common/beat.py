"""One clock for every response a server streams: each open response writes its next piece on the same beat.

Two streamed responses that share a connection then interleave on the wire by how the server is built (on every
beat a piece of each, in turn), not by how two coroutines' timers happen to fall on a busy host: a late beat makes
every piece late together, never one response's pieces bunch up while another's wait. A response joins the beat
after its last one, so it may be one beat behind the others, never out of step.
"""

from __future__ import annotations

import asyncio


class Beat:
    """``await beat()`` returns on the next beat, every ``every`` seconds while someone waits for one."""

    def __init__(self, every: float) -> None:
        self.every = every
        self._next: asyncio.Future | None = None

    async def __call__(self) -> None:
        if self._next is None or self._next.done():
            loop = asyncio.get_running_loop()
            self._next = loop.create_future()
            loop.call_later(self.every, self._fire, self._next)
        await asyncio.shield(self._next)

    @staticmethod
    def _fire(beat: asyncio.Future) -> None:
        if not beat.done():
            beat.set_result(None)
