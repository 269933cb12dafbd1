"""Shared fixtures: where the real-world corpus lives, and running the checks on a file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from analysis.findings import Status
from analysis.pipeline import analyse

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
