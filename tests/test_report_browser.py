"""The HTML report in a real headless browser (Debian's chromium): it loads offline, without console
errors, and the ladder diagrams are there. The screenshot is kept in tests/artifacts/."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from analysis.cli import main
from tests.crafted import WS_101, WS_UPGRADE, C, Conv, S, get, ok, ws_frame

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    if shutil.which("chromium") is None:
        pytest.fail("chromium is not installed: `make test` installs it (lab/bootstrap.sh browser)")
    tmp = tmp_path_factory.mktemp("report")
    c = Conv().handshake()
    c.send(C, get("/"))
    c.send(S, ok())
    w = c.other(client=("10.0.0.1", 40001)).handshake()
    w.send(C, WS_UPGRADE)
    w.send(S, WS_101)
    for n in range(12):  # a long run, to be folded
        w.send(S, ws_frame(b"tick %d" % n))
    w.send(C, ws_frame(b"bye", masked=True))
    cap = c.write(tmp / "mixed.pcapng", ng=True)
    out = tmp / "report.html"
    # The Mermaid folder does not exist yet: report creates it.
    assert main(["report", cap, "-o", str(out), "--mermaid-dir", str(tmp / "mermaid" / "new")]) == 0
    return out, tmp


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["chromium", *_FLAGS, f"--user-data-dir={tmp / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120)


def test_page_is_self_contained(page):
    html = page[0].read_text()
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", html), "the page must not fetch anything"
    assert "<script" not in html


def test_page_renders_with_diagrams_and_no_console_errors(page):
    out, tmp = page
    proc = _chromium(tmp, "--enable-logging=stderr", "--v=0", "--dump-dom", out.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _console(proc) == []
    dom = proc.stdout
    assert dom.count("<svg") == 2  # one ladder per connection
    assert "… 7 more WebSocket text frames …" in dom  # 12 ticks: 3 shown, 7 folded, 2 shown
    assert "data-frame=" in dom and "Comparison" in dom


def _console(proc: subprocess.CompletedProcess) -> list[str]:
    """Chromium logs every console message (errors included) as a CONSOLE line; the page has no
    script, so any such line means something went wrong."""
    return [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]


def test_console_check_catches_a_broken_page(page):
    _, tmp = page
    bad = tmp / "broken.html"
    bad.write_text("<!doctype html><body><script>undefinedFunction();</script></body>")
    proc = _chromium(tmp, "--enable-logging=stderr", "--v=0", "--dump-dom", bad.as_uri())
    assert any("undefinedFunction" in line for line in _console(proc))


def test_screenshot_is_kept_as_an_artifact(page):
    out, tmp = page
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    proc = _chromium(tmp, "--window-size=1300,1400", f"--screenshot={shot}", out.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert shot.stat().st_size > 10_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mermaid_text_matches_the_ladder(page):
    _, tmp = page
    text = (tmp / "mermaid" / "new" / "mixed.mmd").read_text()
    assert text.startswith("sequenceDiagram")
    assert "C0->>S0: [4] GET /" in text
    assert "S1-)C1:" in text  # the server's unasked frames use the open arrow
    assert "Note over C1,S1: … 7 more WebSocket text frames …" in text
