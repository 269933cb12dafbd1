"""check --live and capture --live: verdicts while the traffic flows, on real dumpcap and real sockets.

Each test reads the verdict line of a connection *before* the capture ends (the proof that it is live), then ends
the input the way a user would (the pipe's writer stops, Ctrl-C, the command ends) and gets the final verdict and
the same exit codes as a whole file.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.test_capture_command import DUPLEXLAB, needs_capture

ROOT = Path(__file__).resolve().parent.parent
LINE_WAIT = 30.0  # seconds a connection's verdict line may take to appear (a loaded CI host)


def _client(port: int) -> None:
    subprocess.run([sys.executable, "-m", "tests.peers", "ws-client", str(port)], cwd=ROOT, check=True, timeout=60,
                   capture_output=True)


def _line(proc: subprocess.Popen, wanted: str) -> str:
    """The next stdout line containing ``wanted``, read while the process still runs (bounded in time)."""
    deadline = time.monotonic() + LINE_WAIT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            if wanted in line:
                return line
            assert line, "the output ended before the line came"
    raise AssertionError(f"no line with {wanted!r} within {LINE_WAIT} s")


def _dumpcap(port: int, out: str) -> subprocess.Popen:
    proc = subprocess.Popen(["dumpcap", "-q", "-i", "lo", "-f", f"tcp port {port}", "-w", out],
                            stdout=subprocess.PIPE if out == "-" else subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # dumpcap attaches its filter before it captures
    return proc


@needs_capture
def test_a_pipe_from_dumpcap_prints_each_verdict_while_the_client_runs(server):
    port = server("ws", 2)
    dumpcap = _dumpcap(port, "-")
    check = subprocess.Popen([DUPLEXLAB, "check", "--live", "-"], stdin=dumpcap.stdout, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=ROOT)
    dumpcap.stdout.close()
    try:
        _client(port)
        first = _line(check, "[websocket]")
        assert "pass" in first and "(1 ended: 1 pass)" in first
        assert check.poll() is None and dumpcap.poll() is None  # still capturing: the line came live
        _client(port)
        assert "(2 ended: 2 pass)" in _line(check, "[websocket]")
    finally:
        dumpcap.send_signal(signal.SIGINT)  # the pipe's writer ends: the input ends
        dumpcap.wait(30)
    out, err = check.communicate(timeout=60)
    assert check.returncode == 0, err
    assert "verdict: PASS" in out and "websocket.server-frames-unmasked  ok" in out


@needs_capture
def test_a_file_being_written_is_followed_until_ctrl_c(server, tmp_path):
    port = server("ws-masking", 1)
    path = tmp_path / "growing.pcapng"
    dumpcap = _dumpcap(port, str(path))
    check = subprocess.Popen([DUPLEXLAB, "check", "--live", str(path)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        _client(port)
        line = _line(check, "[websocket]")
        assert "fail" in line and "(1 ended: 1 fail)" in line
        time.sleep(1.0)
        assert check.poll() is None  # a file has no end of its own: it is still being followed
        check.send_signal(signal.SIGINT)  # Ctrl-C ends the input, not the program: the final verdict follows
        out, err = check.communicate(timeout=60)
    finally:
        dumpcap.send_signal(signal.SIGINT)
        dumpcap.wait(30)
    assert check.returncode == 1, err
    assert "verdict: FAIL" in out and "websocket.server-frames-unmasked  violated" in out
    assert "Traceback" not in err


@needs_capture
def test_capture_live_checks_while_the_command_runs(server, tmp_path):
    port = server("ws", 2)
    proc = subprocess.Popen([DUPLEXLAB, "capture", "--live", "--port", str(port), "-o", str(tmp_path / "c.pcapng"),
                             "--", sys.executable, "-c",
                             "import subprocess, sys, time\n"
                             f"subprocess.run([sys.executable, '-m', 'tests.peers', 'ws-client', '{port}'])\n"
                             "time.sleep(3)\n"
                             f"subprocess.run([sys.executable, '-m', 'tests.peers', 'ws-client', '{port}'])\n"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    first = _line(proc, "[websocket]")
    assert "(1 ended: 1 pass)" in first
    assert proc.poll() is None  # the command is still running its second client
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    assert "(2 ended: 2 pass)" in out and "verdict: PASS" in out
    assert (tmp_path / "c.pcapng").stat().st_size > 0


def test_live_takes_one_capture(corpus):
    proc = subprocess.run([DUPLEXLAB, "check", "--live", str(corpus / "ws-arkime.pcap"),
                           str(corpus / "ws-basic-suricata.pcap")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--live follows one capture" in proc.stderr


def test_live_through_a_pipe_gives_what_check_gives(corpus):
    """A capture piped in whole: the pipe's end is the input's end, and the result is the plain check's."""
    path = corpus / "http1-browse-workshop2011-zeek.pcap"
    live = subprocess.run([DUPLEXLAB, "check", "--live", "-"], input=path.read_bytes(), capture_output=True,
                          timeout=60)
    plain = subprocess.run([DUPLEXLAB, "check", str(path)], capture_output=True, timeout=60)
    assert live.returncode == plain.returncode == 0
    lines = live.stdout.decode().splitlines()
    ended = [line for line in lines if " ended: " in line]
    assert len(ended) == 6 and "(6 ended: 6 pass)" in ended[-1]
    table = "\n".join(line for line in lines if " ended: " not in line)
    assert table == plain.stdout.decode().strip().replace(str(path), "-")
