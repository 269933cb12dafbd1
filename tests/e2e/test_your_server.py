"""End to end: your server in the lab (make lab SERVER_IMAGE=...), with servers the project does not write.

Node's `ws` from the npm registry on Debian's Node.js, built here from tests/e2e/node_ws/: as it is
(passes), and made to mask its frames (caught by websocket.server-frames-unmasked). Real engine,
real containers, real dumpcap; the lab's own client runs the websocket scenario against it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
IMAGE = "duplexlab-test-node-ws"


@pytest.fixture(scope="module")
def images() -> tuple[str, str]:
    good, wrong = f"{IMAGE}:1", f"{IMAGE}:masking"
    subprocess.run(["docker", "build", "-q", "-t", good, str(ROOT / "tests" / "e2e" / "node_ws")], check=True,
                   capture_output=True, timeout=900)
    subprocess.run(["docker", "build", "-q", "-t", wrong, "-"], input=f"FROM {good}\nENV MASK=1\n", text=True,
                   check=True, capture_output=True, timeout=300)
    return good, wrong


def lab(image: str, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    proc = subprocess.run(["make", "lab", "PROTOCOLS=websocket", f"SERVER_IMAGE={image}", "SERVER_PORT=8765", *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    doc = json.loads((ROOT / "captures" / "report.json").read_text())
    return proc, doc["captures"][0]


def test_a_third_party_server_runs_the_scenario_and_passes(images):
    proc, cap = lab(images[0], "SERVER_PATH=/feed")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"server: {images[0]} (yours) port 8765 path /feed  verdict: PASS" in proc.stdout
    assert cap["server"] == f"{images[0]} (yours) port 8765 path /feed" and cap["verdict"] == "pass"
    (conn,) = cap["connections"]
    assert conn["server"].endswith(":8765") and conn["protocol"] == "websocket"
    assert cap["measures"]["unprompted_server_messages"] >= 5


def test_a_wrong_server_is_caught_by_the_invariant_that_names_its_fault(images):
    proc, cap = lab(images[1])
    assert proc.returncode != 0
    assert f"server: {images[1]} (yours) port 8765  verdict: FAIL" in proc.stdout
    violated = {f["invariant"]: f for f in cap["findings"] if f["status"] == "violated"}
    assert "websocket.server-frames-unmasked" in violated
    assert "is masked" in violated["websocket.server-frames-unmasked"]["detail"]


def test_your_server_replaces_one_protocol_at_a_time():
    proc = subprocess.run(["make", "lab", "PROTOCOLS=websocket sse", "SERVER_IMAGE=whatever"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "error: SERVER_IMAGE replaces one protocol's server: choose one with PROTOCOLS=" in proc.stderr
