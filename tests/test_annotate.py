"""check --annotate: the findings travel inside the capture, as packet comments Wireshark shows.

tshark reads the copy back: the commented frames are exactly the frames the JSON names, the
filter ``frame.comment contains "violated"`` lands on the violation, and every packet, time,
interface, statistics and secrets block of the original is kept.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.pipeline import analyse
from tests.test_mixed_captures import frame_of, merge, unpromised_h2


def _check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis", "check", *args], capture_output=True, text=True,
                          timeout=120)


def _tshark(path: Path, *args: str) -> list[list[str]]:
    proc = subprocess.run(["tshark", "-n", "-r", str(path), *args], capture_output=True, text=True, timeout=120,
                          check=True)
    return [line.split("\t") for line in proc.stdout.splitlines() if line]


def _named_frames(doc: dict) -> set[int]:
    (cap,) = doc["captures"]
    frames = {n for f in cap["findings"] for n in f["frames"]}
    frames |= {n for c in cap["connections"] for f in c["findings"] for n in f["frames"]}
    return frames


def _packets(path: Path, *more: str) -> list[list[str]]:
    return _tshark(path, "-T", "fields", "-e", "frame.number", "-e", "frame.time_epoch", "-e", "frame.len",
                   "-e", "frame.cap_len", "-e", "tcp.payload", *more)


@pytest.mark.parametrize("name", ["ws-arkime.pcap", "h2c-continuation-suricata.pcap",
                                  "grpc-server-streaming-packt.pcapng"])
def test_comments_land_on_exactly_the_frames_the_json_names(corpus, tmp_path, name):
    out = tmp_path / "annotated.pcapng"
    proc = _check("--json", "--annotate", str(out), str(corpus / name))
    assert proc.returncode == 0, proc.stderr
    named = _named_frames(json.loads(proc.stdout))
    commented = {int(row[0]): row[1] for row in _tshark(out, "-Y", "frame.comment", "-T", "fields", "-e",
                                                       "frame.number", "-e", "frame.comment")}
    assert named and set(commented) == named
    assert all(text.startswith("duplexlab: ") for text in commented.values())
    # Every packet, time and byte kept (and each packet's interface, where the original is pcapng).
    more = ("-e", "frame.interface_id") if name.endswith("ng") else ()
    assert _packets(out, *more) == _packets(corpus / name, *more)


def test_the_violated_filter_lands_on_the_breaking_frame(corpus, tmp_path):
    h2, bad = unpromised_h2(tmp_path)
    merged = merge(tmp_path, "m.pcapng", corpus / "ws-arkime.pcap", h2)
    out = tmp_path / "annotated.pcapng"
    proc = _check("--annotate", str(out), merged)
    assert proc.returncode == 1
    rows = _tshark(out, "-Y", 'frame.comment contains "violated"', "-T", "fields", "-e", "frame.number",
                   "-e", "frame.comment")
    assert frame_of(merged, bad) in {int(r[0]) for r in rows}
    assert any("http2.push-promised violated" in r[1] for r in rows)
    # Read back by duplexlab itself, the copy gives the same verdict and findings.
    again, first = analyse(str(out)), analyse(merged)
    assert [(f.invariant, f.status, f.frames) for f in again.findings] == [
        (f.invariant, f.status, f.frames) for f in first.findings]


def test_secrets_statistics_and_interfaces_are_kept(corpus, tmp_path):
    """A pcapng with a Decryption Secrets Block and interface statistics: the copy still decrypts in tshark."""
    src = tmp_path / "with-keys.pcapng"
    subprocess.run(["editcap", "--inject-secrets", f"tls,{corpus / 'tls12-http1-keylog-small-zeek.keylog'}",
                    str(corpus / "tls12-http1-keylog-small-zeek.pcap"), str(src)], check=True, capture_output=True)
    out = tmp_path / "annotated.pcapng"
    proc = _check("--annotate", str(out), str(src))
    assert proc.returncode in (0, 1), proc.stderr
    assert "frames carry findings" in proc.stderr
    decrypted = _tshark(out, "-Y", "http.request", "-T", "fields", "-e", "http.request.method")
    assert decrypted == _tshark(src, "-Y", "http.request", "-T", "fields", "-e", "http.request.method")
    assert decrypted, "the embedded secrets must survive the copy"
    assert _packets(out, "-e", "frame.interface_id") == _packets(src, "-e", "frame.interface_id")


def test_annotate_takes_one_file_and_says_so(corpus, tmp_path):
    proc = _check("--annotate", str(tmp_path / "x.pcapng"), str(corpus / "ws-arkime.pcap"),
                  str(corpus / "ws-basic-suricata.pcap"))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "takes one capture file" in proc.stderr
    proc = _check("--annotate", str(tmp_path / "no" / "such" / "dir.pcapng"), str(corpus / "ws-arkime.pcap"))
    assert proc.returncode == 2 and "cannot write the annotated copy" in proc.stderr
    assert "Traceback" not in proc.stderr
