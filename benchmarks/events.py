"""The check without its judgement, for `make bench`: records read, segments reassembled, wire events made.

Usage: python benchmarks/events.py FILE [KEYLOG]
Runs the dissection the check runs (every connection recognised, its bytes parsed into wire events; TLS records
opened with the capture's DSB keys and the KEYLOG file's, as ``check --keylog`` opens them) and drops the events
unjudged. Between the floor and the whole check it splits our time in two: reading and parsing, judgement.
"""

from __future__ import annotations

import sys
from pathlib import Path

from analysis.protocols.dissect import stream
from analysis.wire.keys import Keylog
from analysis.wire.pcapread import FileFacts, read_frames


def events(path: str, keylog: str = "") -> int:
    n = 0
    facts = FileFacts(path)
    extra = Path(keylog).read_bytes() if keylog else b""
    for _ in stream(read_frames(path, facts), keylog=Keylog(facts.keylog, extra)):  # as check reads them
        n += 1
    return n


if __name__ == "__main__":
    print(events(*sys.argv[1:3]))
