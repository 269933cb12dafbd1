"""``duplexlab capture`` around real client/server pairs on loopback, and ``--junit`` parsed back.

Real dumpcap, real sockets: the capture command records one port, runs the client, stops late
enough to keep the tail, and checks the file. Exit codes: the command's when it failed, else the
check's; 2 with one sentence when capturing is not allowed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml, Skipped

from tests.crafted import WS_101, WS_UPGRADE, C, Conv, S, ws_frame
from tests.peers import free_port

ROOT = Path(__file__).resolve().parent.parent
DUPLEXLAB = str(Path(sys.executable).parent / "duplexlab")
needs_capture = pytest.mark.skipif(os.geteuid() != 0 and not os.environ.get("DUPLEXLAB_CAN_CAPTURE"),
                                   reason="capturing on loopback needs root here (set DUPLEXLAB_CAN_CAPTURE=1 if "
                                          "dumpcap has the capabilities)")


def capture(tmp_path, port: int, *command: str, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run([DUPLEXLAB, "capture", "--port", str(port), "-o", str(tmp_path / "cap.pcapng"),
                           "--junit", str(tmp_path / "junit.xml"), *extra, "--", *command],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def cases(path) -> dict:
    xml = JUnitXml.fromfile(str(path))
    return {case.name: case for suite in xml for case in suite}


@needs_capture
def test_a_correct_websocket_pair_passes_and_the_junit_says_so(tmp_path, server):
    port = server("ws")
    proc = capture(tmp_path, port, sys.executable, "-m", "tests.peers", "ws-client", str(port))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[websocket]  verdict: PASS" in proc.stdout
    got = cases(tmp_path / "junit.xml")
    assert {"websocket.upgrade", "websocket.client-frames-masked", "websocket.server-frames-unmasked",
            "http1.client-speaks-first"} <= set(got)
    assert all(not case.result for case in got.values())
    assert (tmp_path / "cap.pcapng").stat().st_size > 0


@needs_capture
def test_a_masking_server_fails_with_the_invariant_and_frames_in_junit(tmp_path, server):
    port = server("ws-masking")
    proc = capture(tmp_path, port, sys.executable, "-m", "tests.peers", "ws-client", str(port))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (failure,) = cases(tmp_path / "junit.xml")["websocket.server-frames-unmasked"].result
    assert isinstance(failure, Failure) and failure.type == "violated"
    assert "is masked" in failure.message and "[frames " in failure.message
    assert "tcp#0 127.0.0.1:" in failure.text


@needs_capture
def test_a_server_that_speaks_first_fails(tmp_path, server):
    port = server("speaks-first")
    proc = capture(tmp_path, port, sys.executable, "-m", "tests.peers", "http-client", str(port), "/", "0.3")
    assert proc.returncode == 1
    assert "http1.client-speaks-first       violated" in proc.stdout


@needs_capture
def test_the_command_exit_code_wins_when_it_failed(tmp_path):
    proc = capture(tmp_path, free_port(), sys.executable, "-c", "import sys; sys.exit(3)")
    assert proc.returncode == 3, proc.stderr


def test_an_unwritable_output_is_one_sentence_and_exit_two():
    proc = subprocess.run([DUPLEXLAB, "capture", "--port", "8080", "-o", "/proc/no/such/x.pcapng", "--", "true"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: cannot write the capture to /proc/no/such/x.pcapng")


def test_no_command_is_one_sentence_and_exit_two(tmp_path):
    proc = subprocess.run([DUPLEXLAB, "capture", "--port", "8080"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "needs the command to run" in proc.stderr


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root to drop to nobody")
def test_without_capture_permission_one_sentence_says_how_to_grant_it():
    out = Path(tempfile.mkdtemp(prefix="duplexlab-nobody-"))
    out.chmod(0o777)  # the unprivileged user may write here; what it may not do is capture
    proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                           DUPLEXLAB, "capture", "--port", str(free_port()), "-o", str(out / "x.pcapng"), "--",
                           "true"], capture_output=True, text=True, timeout=60, env={**os.environ, "HOME": "/tmp"})
    shutil.rmtree(out, ignore_errors=True)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "may not capture" in lines[0] and "setcap" in lines[0]


def test_check_junit_has_inconclusive_as_its_own_failure_type_and_not_applicable_as_skipped(tmp_path, corpus):
    c = Conv().handshake()
    c.send(C, WS_UPGRADE)
    c.send(S, WS_101)
    for n in range(3):
        c.send(S, ws_frame(b"tick %d" % n))
    ticker = c.write(tmp_path / "ticker.pcap")
    out = tmp_path / "j.xml"
    proc = subprocess.run([DUPLEXLAB, "check", "--junit", str(out), ticker,
                           str(corpus / "tls12-http1-keylog-small-zeek.pcap")], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1
    suites = list(JUnitXml.fromfile(str(out)))
    assert len(suites) == 2
    ticker_cases = {case.name: case for case in suites[0]}
    (skipped,) = ticker_cases["websocket.client-frames-masked"].result
    assert isinstance(skipped, Skipped) and "no client frames" in skipped.message
    (tls,) = [case for case in suites[1]]
    assert tls.name == "tls.decrypted" and tls.result[0].type == "inconclusive"
    assert suites[1].failures == 1 and suites[0].failures == 0 and suites[0].skipped == 1


@needs_capture
def test_host_and_filter_narrow_the_capture_without_a_port(tmp_path, server):
    port = server("ws")
    proc = subprocess.run([DUPLEXLAB, "capture", "--host", "127.0.0.1", "--host", "::1", "--filter",
                           f"tcp port {port}", "-o", str(tmp_path / "cap.pcapng"), "--", sys.executable, "-m",
                           "tests.peers", "ws-client", str(port)], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[websocket]  verdict: PASS" in proc.stdout


@needs_capture
def test_a_host_that_never_talks_leaves_an_empty_capture_that_says_so(tmp_path, server):
    port = server("ws")
    proc = capture(tmp_path, port, sys.executable, "-m", "tests.peers", "ws-client", str(port),
                   extra=("--host", "127.0.0.9"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"nothing matching '(tcp port {port} or udp port {port}) and (host 127.0.0.9)' crossed lo" in proc.stderr


@needs_capture
def test_the_wrong_interface_names_the_interfaces_that_had_traffic(tmp_path, server):
    """Traffic on the loopback, capture on an idle veth: the sentence points at lo."""
    subprocess.run(["ip", "link", "add", "dlxtest0", "type", "veth", "peer", "name", "dlxtest1"], check=True)
    try:
        subprocess.run(["ip", "link", "set", "dlxtest0", "up"], check=True)
        port = server("ws")
        proc = capture(tmp_path, port, sys.executable, "-m", "tests.peers", "ws-client", str(port),
                       extra=("--interface", "dlxtest0"))
    finally:
        subprocess.run(["ip", "link", "del", "dlxtest0"], check=False)
    line = next(x for x in proc.stderr.splitlines() if "nothing matching" in x)
    assert "crossed dlxtest0" in line and "carried packets meanwhile: " in line
    assert "lo" in line.split("meanwhile: ")[1].split(" (")[0].split(", ")


@needs_capture
def test_an_invalid_filter_is_one_sentence_and_exit_two(tmp_path):
    proc = subprocess.run([DUPLEXLAB, "capture", "--filter", "tcp portx 80", "-o", str(tmp_path / "x.pcapng"), "--",
                           "true"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0
    assert "the capture filter 'tcp portx 80' is not valid BPF" in proc.stderr


def test_capture_without_port_host_or_filter_says_what_to_record(tmp_path):
    proc = subprocess.run([DUPLEXLAB, "capture", "--", "true"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "say what to record" in proc.stderr
