"""End to end: the lab's timed scenario expectations hold on a busy host, by how the peers are built.

Issue 23: `make lab` once failed under load on http3.multiplexed, because the interleaving it expects came from two
client coroutines racing rather than from the server. Every timed expectation now holds by construction (the
servers write their streamed responses on one clock, services/common/beat.py; the long-polling server makes each
event a fixed time after a poll waits for it; the gRPC and duplex clients end their half only once the server has
spoken). This test runs the scenarios whose expectations involve timing while bounded busy loops load every core,
and asserts that every scenario expectation is ok.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.scenarios import JUDGED_AS

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
# The scenarios whose expectations need an order or a time on the wire: interleaving (http2, http3, sse-h2), events
# spread over time (sse, sse-h2), unprompted server messages and full duplex (websocket, grpc), holds (longpoll),
# a response begun before its request ended (http1-duplex).
TIMED = ("websocket", "sse", "http2", "grpc", "longpoll", "http1-duplex", "http3", "sse-h2")
BUSY = 3  # busy loops: more than the machine's 2 cores
BUSY_SECONDS = 240  # each loop ends by itself after this, even if this test is killed; it is stopped sooner below
LOOP = "import time\nend = time.monotonic() + {s}\nwhile time.monotonic() < end:\n    pass\n"


def test_timed_expectations_hold_while_the_cpu_is_busy():
    busy = [subprocess.Popen([sys.executable, "-c", LOOP.format(s=BUSY_SECONDS)]) for _ in range(BUSY)]
    try:
        time.sleep(1.0)  # the loops have the cores before the lab starts
        t0 = time.monotonic()
        proc = subprocess.run(["make", "lab", f"PROTOCOLS={' '.join(TIMED)}"], cwd=ROOT, capture_output=True,
                              text=True, timeout=600, env=dict(os.environ, NO_COLOR="1"))
        took = time.monotonic() - t0
        still_busy = [p.poll() is None for p in busy]
    finally:
        for p in busy:
            p.kill()
            p.wait()
    assert " failed:" not in proc.stderr, proc.stderr[-2000:]  # every client ran its scenario to the end
    assert all(still_busy), "a busy loop ended before the lab did: the host was not loaded all through the run"
    doc = json.loads((ROOT / "captures" / "report.json").read_text())
    assert [c["protocol"] for c in doc["captures"]] == [JUDGED_AS.get(p, p) for p in TIMED], proc.stderr[-2000:]
    broken = {c["file"]: [f"{f['invariant']}: {f['status']}: {f['detail']}" for f in c["findings"]
                          if f["kind"] == "scenario" and f["status"] != "ok"] for c in doc["captures"]}
    assert not any(broken.values()), broken
    expected = {c["file"]: sorted(f["invariant"] for f in c["findings"] if f["kind"] == "scenario")
                for c in doc["captures"]}
    assert all(expected.values()), expected  # every timed scenario was judged on its expectations
    print(f"make lab of {len(TIMED)} timed scenarios beside {BUSY} busy loops: {took:.1f}s, rc {proc.returncode}")
