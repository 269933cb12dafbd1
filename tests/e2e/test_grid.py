"""End to end: a slice of the interop grid (`make grid CELLS=...`, Chromium and two fault peers included).

What the README's grid table says for each cell of the slice is what the wire showed (a cell that differs is run
again alone, which must agree: a loaded host can tip a timing cell, an implementation breaks a rule every time);
each fault peer is caught on the invariant it breaks; grid.html renders in real Chromium without console errors;
and the slice run as two shards and merged (`python -m analysis grid merge`) gives the grid.json of one run.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import warnings

import pytest

from analysis.cli import main as cli
from tests.e2e.test_lab import ROOT, make
from tests.e2e.via_table import README

pytestmark = pytest.mark.e2e
GRID = ROOT / "captures" / "grid"
SLICE = ("websocket/node/chromium", "websocket/node-fault/lab", "sse/aiohttp/node-fault", "h2push/apache/curl",
         "grpc/grpcjs/node", "http3/lab/lab")  # http3/lab/lab: 7.7 s, QUIC keys embedded, push expected


def readme_grid() -> dict[str, set[str]]:
    """{protocol/server/client: the verdicts it may show} from the README's grid table (between its two markers):
    rows PROTOCOL/SERVER, a column per client, each cell `verdict (figure)`, `A *or* B` where runs differ, — where
    the cell cannot exist."""
    return parse_table(README.read_text().split("<!-- grid-table -->")[1].split("<!-- /grid-table -->")[0])


def parse_table(block: str) -> dict[str, set[str]]:
    rows = [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in block.strip().splitlines() if line.startswith("|") and not re.match(r"\|\s*-", line)]
    head, *body = rows
    table = {}
    for row in body:
        for client, text in zip(head[1:], row[1:], strict=True):
            if text not in ("—", ""):
                table[f"{row[0].strip('`')}/{client}"] = {v.split(" (")[0].strip() for v in text.split(" *or* ")}
    return table


def _run(*cells: str, shard: str = "") -> tuple[subprocess.CompletedProcess, dict]:
    proc = make("grid", f"CELLS={' '.join(cells)}", *([f"SHARD={shard}"] if shard else []), timeout=600)
    name = f"grid.{shard.replace('/', 'of')}.json" if shard else "grid.json"
    assert (GRID / name).exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, json.loads((GRID / name).read_text())


@pytest.fixture(scope="module")
def sliced(tmp_path_factory):
    if shutil.which("docker") is None:
        pytest.fail("docker is not installed: `make test` bootstraps it")
    proc, doc = _run(*SLICE)
    kept = shutil.copytree(GRID, tmp_path_factory.mktemp("grid") / "grid")  # a cell run again rewrites captures/grid
    return proc, doc, kept


def _ran(doc: dict) -> dict[str, dict]:
    return {f"{c['protocol']}/{c['server']}/{c['client']}": c for c in doc["cells"] if c["status"] == "ran"}


def test_every_cell_of_the_slice_ran_within_its_budget(sliced):
    proc, doc, _ = sliced
    ran = _ran(doc)
    assert set(ran) == set(SLICE), proc.stdout[-3000:] + proc.stderr[-3000:]
    for name, c in ran.items():
        assert c["verdict"] != "error", (name, c.get("error"), c["client_log"])
        assert c["seconds"] <= 45, (name, c["seconds"])  # 30 s budget per cell, some slack on a loaded host
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_the_fault_peers_are_caught_on_the_rule_they_break(sliced):
    _, doc, _ = sliced
    ran = _ran(doc)
    for name, rule in (("websocket/node-fault/lab", "websocket.server-frames-unmasked"),
                       ("sse/aiohttp/node-fault", "sse.client-silent")):
        c = ran[name]
        assert c["fault"] == rule and c["caught"] and c["verdict"] == "caught", (name, c["findings"])
        assert any(f["invariant"] == rule and f["status"] == "violated" for f in c["findings"])


def test_chromium_keys_are_in_its_capture_and_the_cell_is_read(sliced):
    _, doc, kept = sliced
    c = _ran(doc)["websocket/node/chromium"]
    cap = kept / c["capture"]
    rows = subprocess.run(["tshark", "-r", str(cap), "-Y", "websocket.opcode == 1", "-T", "fields", "-e",
                           "websocket.mask"], capture_output=True, text=True, check=True).stdout.split()
    assert rows, "tshark decrypted no WebSocket text frame with the embedded keys"
    assert all(f["status"] != "inconclusive" for f in c["findings"] if f["invariant"].startswith("websocket")), \
        c["findings"]


def test_the_readme_grid_table_is_what_the_wire_showed(sliced):
    _, doc, _ = sliced
    table = readme_grid()
    wrong = {}
    for name, c in _ran(doc).items():
        assert name in table, f"the README's grid table has no row for {name}"
        if c["verdict"] not in table[name]:
            wrong[name] = c["verdict"]
    for name in list(wrong):
        # A timing cell can tip on a starved host; a peer that breaks a rule breaks it every time. Alone, once more.
        _, again = _run(name)
        alone = _ran(again)[name]["verdict"]
        if alone in table[name]:
            warnings.warn(f"{name} showed {wrong.pop(name)} in the slice and {alone} alone", stacklevel=1)
        else:
            wrong[name] = (wrong[name], alone, _ran(again)[name]["findings"])
    assert wrong == {}


def test_the_grid_page_renders_in_chromium_without_console_errors(sliced, tmp_path):
    _, _, kept = sliced
    page = kept / "grid.html"
    html = page.read_text()
    assert "<script" not in html and "websocket-node-chromium.html" in html
    proc = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--disable-background-networking", f"--user-data-dir={tmp_path / 'profile'}",
                           "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [line for line in proc.stderr.splitlines() if ":CONSOLE" in line] == []
    assert proc.stdout.count("<table") >= 4 and "caught" in proc.stdout


def test_two_shards_merged_give_the_grid_of_one_run(sliced, tmp_path):
    _, whole, _ = sliced
    parts = []
    for i in (1, 2):
        _, doc = _run(*SLICE, shard=f"{i}/2")
        parts.append(tmp_path / f"grid.{i}of2.json")
        parts[-1].write_text(json.dumps(doc))
    assert cli(["grid", "merge", *map(str, parts), "-o", str(tmp_path / "grid.json")]) == 0
    merged = json.loads((tmp_path / "grid.json").read_text())
    assert _stable(merged) == _stable(whole)


def _stable(doc: dict) -> dict:
    """What two runs of the same cells share: the cells, their verdicts and each invariant's status (not the
    seconds, logs or frame numbers, which differ from run to run)."""
    return {"axes": doc["axes"], "settings": doc["settings"],
            "cells": [(c["cell"], c["status"], c["verdict"], c.get("fault"),
                       sorted((f["invariant"], f["status"]) for f in c["findings"])) for c in doc["cells"]]}
