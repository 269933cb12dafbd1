"""The check without its judgement, for `make bench`: records read, segments reassembled, wire events made.

Usage: python benchmarks/events.py FILE
Runs the dissection the check runs (every connection recognised, its bytes parsed into wire events; no TLS keys
are asked for, as the bench mixes hold no TLS) and drops the events unjudged. Between the floor and the whole
check it splits our time in two: reading and parsing, judgement.
"""

from __future__ import annotations

import sys

from analysis.protocols.dissect import stream
from analysis.wire.keys import Keylog
from analysis.wire.pcapread import FileFacts, read_frames


def events(path: str) -> int:
    n = 0
    facts = FileFacts(path)
    for _ in stream(read_frames(path, facts), keylog=Keylog(facts.keylog)):  # a DSB's keys, as check reads them
        n += 1
    return n


if __name__ == "__main__":
    print(events(sys.argv[1]))
