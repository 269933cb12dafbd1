"""Reading a capture while it grows (``check --live``): wait at the end of the bytes so far instead of ending.

A pipe (``dumpcap -w - | duplexlab check --live -``) ends when its writer closes it; a regular file being
written (``dumpcap -w FILE``) has no end the file itself can say, so reading waits at its end, polling, until
``stop()`` (Ctrl-C: the signal handler calls it) or until ``done()`` says nothing more will be written (the
command that ``capture --live`` ran has ended and the capture is finalized). Either way the reader then sees the
end of the input, and the pipeline concludes every connection still open and gives the final verdict, exactly
as for a whole file.

A read blocked on a pipe, or a wait, is cut short by ``stop()`` raising ``Stopped`` inside it; outside a read
``stop()`` only sets the flag the next read looks at, so no other code is ever interrupted.
"""

from __future__ import annotations

import time
from collections.abc import Callable

POLL = 0.2  # seconds between two looks at a file that has not grown


class Stopped(Exception):
    """Raised inside a blocked read by ``Follow.stop``: the input ends here."""


class Follow:
    __slots__ = ("_waiting", "done", "finished", "stopped")

    def __init__(self, done: Callable[[], bool] | None = None) -> None:
        self.done = done
        self.stopped = False
        self.finished = False  # done() said so once: from then on the end of the file is the end
        self._waiting = False

    def stop(self) -> None:
        """End the input at once (from a signal handler)."""
        self.stopped = True
        if self._waiting:
            raise Stopped

    def read(self, read: Callable[[], bytes], grows: bool) -> bytes:
        """The next bytes ``read()`` gives; at the end of a file that ``grows``, wait for more. b"": the end."""
        while not self.stopped:
            data = self._call(read)
            if data is None:  # stopped inside the read
                return b""
            if data:
                return data
            if not grows or self.finished:
                return b""
            if self.done is not None and self.done():
                self.finished = True
                continue  # what was written while the capture was being finalized
            if self._call(lambda: time.sleep(POLL) or b"") is None:
                return b""
        return b""

    def _call(self, fn: Callable[[], bytes | None]) -> bytes | None:
        """``fn()``, or None when ``stop()`` cut it short."""
        try:
            self._waiting = True
            return fn() if not self.stopped else None
        except Stopped:
            return None
        finally:
            self._waiting = False
