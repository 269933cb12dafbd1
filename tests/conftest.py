"""Shared fixtures: where the real-world corpus lives, running the checks on a file, and a loopback test server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.findings import Status
from analysis.pipeline import analyse
from tests.peers import free_port

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("DUPLEXLAB_CORPUS", ROOT.parent / "shared" / "corpus"))


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not (CORPUS / "MANIFEST.md").is_file():
        if os.environ.get("DUPLEXLAB_SKIP_CORPUS") == "1":
            pytest.skip(f"corpus skipped on request (DUPLEXLAB_SKIP_CORPUS=1); expected at {CORPUS}")
        pytest.fail(f"the real-world corpus is expected at {CORPUS} (set DUPLEXLAB_CORPUS, or "
                    "DUPLEXLAB_SKIP_CORPUS=1 to skip these tests)")
    return CORPUS


def finding(path, invariant: str, protocol: str | None = None, scenario: bool = True):
    result = analyse(str(path), protocol, scenario=scenario)
    matches = [f for f in result.findings if f.invariant == invariant]
    assert matches, f"{invariant} not reported; got {[f.invariant for f in result.findings]}"
    return matches[0]


OK, VIOLATED, INCONCLUSIVE = Status.OK, Status.VIOLATED, Status.INCONCLUSIVE


def holds_and_breaks(invariant: str, protocol: str, holding, breaking):
    """The standard every invariant meets: ok on the capture that holds it, violated on the one that
    breaks it. Returns the violation, so the caller can check the frames it names."""
    held = finding(holding, invariant, protocol)
    assert held.status is OK, held.detail
    broken = finding(breaking, invariant, protocol)
    assert broken.status is VIOLATED, broken.detail
    return broken


@pytest.fixture
def server():
    procs = []

    def start(role: str, connections: int = 1) -> int:
        """A server of ``role`` (tests/peers.py) on a free port, for ``connections`` connections; its port."""
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "tests.peers", role, str(port), str(connections)], cwd=ROOT,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        procs.append(proc)
        return port

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()
