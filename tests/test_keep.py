"""tests/keep.py: an end-to-end test that fails keeps the captures it read and says where; one that passes keeps
nothing. Run by pytester in a subprocess, with the plugin brought in the way tests/e2e/conftest.py does."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parent.parent

TESTS = """
from pathlib import Path

def test_fails(keep_on_failure, tmp_path):
    cap = tmp_path / "http3.pcapng"
    cap.write_bytes(b"the capture")
    keep_on_failure(cap)
    keep_on_failure(tmp_path / "never-written.pcapng")
    assert 4 >= 10

def test_passes(keep_on_failure, tmp_path):
    cap = tmp_path / "websocket.pcapng"
    cap.write_bytes(b"fine")
    keep_on_failure(cap)
"""


@pytest.fixture
def kept_dir(pytester, monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("DUPLEXLAB_FAILED_DIR", str(tmp_path / "failed"))
    pytester.makeconftest("from tests.keep import keep_on_failure, pytest_runtest_makereport  # noqa: F401\n")
    pytester.makepyfile(test_e2e_like=TESTS)
    return tmp_path / "failed"


def test_a_failing_test_keeps_its_capture_and_names_the_copy(pytester, kept_dir):
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    kept = sorted(kept_dir.iterdir())
    assert [p.name.split("-", 1)[1] for p in kept] == ["test_fails-http3.pcapng"]
    assert kept[0].read_bytes() == b"the capture"
    out = result.stdout.str()
    assert "kept captures" in out and f"kept as {kept[0]}" in out
    assert "never-written.pcapng: not there to keep" in out
    assert "assert 4 >= 10" in out  # the assertion's own message is untouched


def test_a_passing_run_keeps_nothing(pytester, kept_dir):
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "passes")
    result.assert_outcomes(passed=1)
    assert not kept_dir.exists()
    assert "kept captures" not in result.stdout.str()
