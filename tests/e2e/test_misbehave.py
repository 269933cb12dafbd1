"""End to end: deliberately wrong peers on the real lab network, caught by the invariant that names the fault."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from lab.scenarios import MISBEHAVIOURS

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def misbehave():
    proc = subprocess.run(["make", "lab", "PROFILE=misbehave"], cwd=ROOT, capture_output=True, text=True,
                          timeout=900, env=dict(os.environ, NO_COLOR="1"))
    doc = json.loads((ROOT / "captures" / "misbehave-report.json").read_text())
    return proc, {Path(c["file"]).stem.removeprefix("misbehave-"): c for c in doc["captures"]}


def test_every_misbehaviour_is_caught_and_make_lab_says_so(misbehave):
    proc, _ = misbehave
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "every misbehaviour was caught" in proc.stdout


@pytest.mark.parametrize("name", sorted(MISBEHAVIOURS))
def test_the_right_invariant_fails(misbehave, name):
    _, captures = misbehave
    cap = captures[name]
    assert cap["verdict"] == "fail"
    violated = {f["invariant"]: f for f in cap["findings"] if f["status"] == "violated"}
    for inv in MISBEHAVIOURS[name][1]:
        assert inv in violated, (name, inv, cap["findings"])
        assert violated[inv]["frames"], "a violation must name the frames that show it"
