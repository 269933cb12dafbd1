"""The pytest plugin, run by pytester against real servers on loopback (real dumpcap, real sockets).

The plugin is loaded the way a user gets it: through the ``pytest11`` entry point of the
installed package, in a pytest subprocess.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.test_capture_command import needs_capture

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parent.parent

TEST_FILE = """
from tests.peers import Server, http_client, ws_client

def test_ws(duplexlab):
    with Server("{role}") as srv:
        with duplexlab.capture(port=srv.port) as cap:
            ws_client(srv.port)
    {assertions}
"""


@pytest.fixture
def run(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))

    def go(source: str, *args: str):
        pytester.makepyfile(test_user=source)
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)

    return go


@needs_capture
def test_a_correct_websocket_server_passes(run):
    result = run(TEST_FILE.format(role="ws", assertions="""cap.assert_holds()
    cap.assert_holds("websocket.server-originates", at_least=3)
    cap.assert_holds("websocket.client-frames-masked")
    assert cap.result.verdict == "pass" and cap.path.exists()"""))
    result.assert_outcomes(passed=1)


@needs_capture
def test_a_correct_sse_server_passes_with_the_users_thresholds(run):
    result = run("""
from tests.peers import Server, http_client

def test_sse(duplexlab):
    with Server("sse") as srv:
        with duplexlab.capture(port=srv.port) as cap:
            http_client(srv.port)
    cap.assert_holds()
    cap.assert_holds("sse.server-pushes-events", at_least=5, spread=0.3)
    cap.assert_holds("sse.client-silent")
""")
    result.assert_outcomes(passed=1)


@needs_capture
def test_a_server_that_speaks_first_fails_naming_invariant_frame_and_file(run):
    result = run("""
from tests.peers import Server, http_client

def test_early(duplexlab):
    with Server("speaks-first") as srv:
        with duplexlab.capture(port=srv.port) as cap:
            http_client(srv.port, "/", wait=0.3)
    cap.assert_holds()
""")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*duplexlab: verdict fail*", "*http1.client-speaks-first violated*frames *",
                                 "*capture kept at *test_early-1.pcapng*"])


@needs_capture
def test_a_masking_server_fails_naming_the_masked_frames(run):
    result = run(TEST_FILE.format(role="ws-masking", assertions="cap.assert_holds()"))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*websocket.server-frames-unmasked violated*is masked*[[]frames *"])


@needs_capture
def test_a_threshold_the_server_does_not_reach_fails(run):
    result = run(TEST_FILE.format(role="ws", assertions='cap.assert_holds("websocket.server-originates", '
                                  "at_least=10)"))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*websocket.server-originates is violated*", "*only 5 unprompted server data "
                                 "frames; the scenario expects at least 10*"])


@needs_capture
def test_keep_copies_every_capture(run, tmp_path):
    keep = tmp_path / "kept"
    result = run(TEST_FILE.format(role="ws", assertions="pass"), f"--duplexlab-keep={keep}")
    result.assert_outcomes(passed=1)
    assert [p.name for p in keep.iterdir()] == ["test_ws-1.pcapng"]


def test_unknown_ids_and_bad_thresholds_are_said_plainly(run):
    result = run("""
import pytest
from duplexlab.pytest_plugin import Capture

def test_ids(duplexlab, tmp_path):
    cap = duplexlab.capture(port=1)
    with pytest.raises(AssertionError, match="after the `with"):
        cap.assert_holds()
    from duplexlab.judge import Judge
    with pytest.raises(TypeError, match="takes at_least, spread, not every"):
        Judge().expect("sse.server-pushes-events", every=2)
""")
    result.assert_outcomes(passed=1)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root to drop to nobody")
@pytest.mark.parametrize("option,outcome", [((), "1 failed"), (("--duplexlab-missing=skip",), "1 skipped")])
def test_without_capture_permission_the_test_fails_or_skips_with_one_sentence(option, outcome):
    where = Path(tempfile.mkdtemp(prefix="duplexlab-plugin-"))
    try:
        where.chmod(0o777)
        (where / "test_nobody.py").write_text("def test_it(duplexlab):\n    with duplexlab.capture(port=9):\n"
                                              "        pass\n")
        proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                               sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", "-q",
                               "--basetemp", str(where / "tmp"), *option, str(where / "test_nobody.py")],
                              capture_output=True, text=True, timeout=120, cwd=where,
                              env={**os.environ, "HOME": str(where)})
    finally:
        shutil.rmtree(where, ignore_errors=True)
    assert outcome in proc.stdout, proc.stdout + proc.stderr
    assert "may not capture on lo" in proc.stdout and "setcap" in proc.stdout
    assert "Traceback" not in proc.stdout
