"""capture.no-drops: the capture's own drop counters (pcapng ISB) fail a lab run; for `check` they warn."""

from __future__ import annotations

from analysis.pipeline import analyse
from tests.conftest import holds_and_breaks
from tests.crafted import C, Conv, S, get, ok, with_drop_counters


def _capture(tmp_path, dropped: int) -> str:
    c = Conv().handshake()
    c.send(C, get("/"))
    c.send(S, ok())
    path = c.write(tmp_path / f"dropped-{dropped}.pcapng", ng=True)
    with_drop_counters(path, dropped)
    return path


def test_no_drops_holds_and_breaks(tmp_path):
    f = holds_and_breaks("capture.no-drops", "http1", _capture(tmp_path, 0), _capture(tmp_path, 3))
    assert "dropped 3 packets" in f.detail and f.kind == "scenario"


def test_drops_are_a_warning_without_scenario(tmp_path):
    result = analyse(_capture(tmp_path, 3), "http1")
    assert result.verdict == "pass"
    assert any("3 packets dropped" in w for w in result.warnings)
    assert result.measures["capture"]["dropped"] == 3
