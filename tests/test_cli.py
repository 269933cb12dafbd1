"""The command line on bad input: one sentence, a distinct exit code, never a traceback."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.crafted import C, Conv, S, get, ok

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)


def _good(tmp_path, ng=False):
    c = Conv().handshake()
    c.send(C, get("/"))
    c.send(S, ok())
    return c.write(tmp_path / ("good.pcapng" if ng else "good.pcap"), ng=ng)


def _one_sentence(proc, *words):
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    for w in words:
        assert w in lines[0]


def test_good_capture_exits_zero_with_a_table(tmp_path):
    proc = run("check", _good(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "http1.response-follows-request" in proc.stdout and "PASS" in proc.stdout


def test_json_document_shape(tmp_path):
    proc = run("check", "--json", _good(tmp_path))
    doc = json.loads(proc.stdout)
    (cap,) = doc["captures"]
    assert cap["verdict"] == "pass" and cap["protocol"] == "http1"
    assert {f["status"] for f in cap["findings"]} == {"ok"}
    assert all({"invariant", "status", "frames", "detail"} <= set(f) for f in cap["findings"])
    assert cap["measures"]["requests"] == 1


def test_violation_exits_one(tmp_path):
    c = Conv().handshake()
    c.send(S, ok())  # the server talks first, and the client speaks after it
    c.send(C, get())
    proc = run("check", c.write(tmp_path / "bad.pcap"))
    assert proc.returncode == 1
    assert "violated" in proc.stdout


@pytest.mark.parametrize("make,words", [
    (lambda p: (p.write_text("hello, not a capture\n"), p)[1], ("not a pcap or pcapng",)),
    (lambda p: (p.write_bytes(b""), p)[1], ("empty",)),
    (lambda p: (p.mkdir(), p)[1], ("directory",)),
    (lambda p: p, ("does not exist",)),
])
def test_unusable_input_exits_two(tmp_path, make, words):
    path = make(tmp_path / "input")
    proc = run("check", str(path))
    assert proc.returncode == 2
    _one_sentence(proc, *words)


def test_truncated_capture_gives_results_and_a_warning(tmp_path):
    path = _good(tmp_path)
    data = Path(path).read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:-20])  # the last packet ends mid-record
    proc = run("check", "--json", str(cut))
    assert proc.returncode == 1  # judged on what was read, at best inconclusive (tests/test_hostile_input.py)
    assert "truncated" in proc.stderr and "Traceback" not in proc.stderr
    cap = json.loads(proc.stdout)["captures"][0]
    assert cap["measures"]["requests"] == 1 and cap["warnings"] and cap["verdict"] == "inconclusive"


def test_pcapng_with_an_unknown_block_is_read(tmp_path):
    path = _good(tmp_path, ng=True)
    data = Path(path).read_bytes()
    shb_len = struct.unpack("<I", data[4:8])[0]
    custom = struct.pack("<II", 0x40000BAD, 16) + b"\xde\xad\xbe\xef" + struct.pack("<I", 16)
    odd = tmp_path / "odd.pcapng"
    odd.write_bytes(data[:shb_len] + custom + data[shb_len:])
    proc = run("check", str(odd))
    assert proc.returncode == 0, proc.stderr


def test_unknown_protocol_is_a_usage_error(tmp_path):
    proc = run("check", "--protocol", "gopher", _good(tmp_path))
    assert proc.returncode == 2
    _one_sentence(proc, "invalid choice")


def test_check_decrypts_tls_with_no_tshark_on_path(tmp_path, corpus):
    """duplexlab decrypts TLS itself: a capture with its keys (a DSB, or --keylog) is judged with no tshark at hand."""
    name = "tls12-http1-keylog-small-zeek"
    keyed = tmp_path / "keyed.pcapng"
    subprocess.run(["editcap", "--inject-secrets", f"tls,{corpus / f'{name}.keylog'}", str(corpus / f"{name}.pcap"),
                    str(keyed)], check=True, capture_output=True)
    env = dict(os.environ, PATH=str(tmp_path / "empty-bin"))
    for args in ([str(keyed)], ["--keylog", str(corpus / f"{name}.keylog"), str(corpus / f"{name}.pcap")]):
        proc = subprocess.run([sys.executable, "-m", "analysis", "check", *args], capture_output=True, text=True,
                              cwd=ROOT, timeout=60, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "[http1]  verdict: PASS" in proc.stdout and "Traceback" not in proc.stderr, proc.stdout
    stripped = subprocess.run([sys.executable, "-m", "analysis", "check", str(corpus / f"{name}.pcap")],
                              capture_output=True, text=True, cwd=ROOT, timeout=60, env=env)
    assert stripped.returncode == 1 and "no key log at all" in stripped.stdout, stripped.stdout


def test_parallel_check_keeps_the_order_the_output_and_the_exit_code(tmp_path, corpus):
    c = Conv().handshake()
    c.send(S, ok())  # the server speaks first: a failing capture
    bad = c.write(tmp_path / "bad.pcap")
    files = [str(corpus / "ws-arkime.pcap"), bad, str(tmp_path / "missing.pcap"),
             str(corpus / "sse-servertime-flask-susam.pcap"), _good(tmp_path)]
    one = run("check", "-j", "1", *files)
    two = run("check", "-j", "2", *files)
    assert (one.returncode, one.stdout, one.stderr) == (two.returncode, two.stdout, two.stderr)
    assert one.returncode == 2  # a missing file is bad input, and it wins over the failing capture
    heads = [line.split()[0] for line in one.stdout.splitlines() if "verdict:" in line]
    assert heads == [f for f in files if not f.endswith("missing.pcap")]
    assert run("check", "-j", "0", _good(tmp_path)).returncode == 2

