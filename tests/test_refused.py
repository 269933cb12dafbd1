"""A refused connection (SYN answered by a reset, RFC 9293 §3.10.7.1) is said to be refused, crafted and real."""

from __future__ import annotations

import subprocess
import sys

from scapy.all import IP, TCP, Ether, wrpcap

from analysis.pipeline import analyse
from tests.peers import free_port
from tests.test_capture_command import DUPLEXLAB, ROOT, needs_capture


def _write(path, *packets) -> str:
    for i, p in enumerate(packets):
        p.time = 1000 + i * 0.001
    wrpcap(str(path), list(packets))
    return str(path)


C, S = dict(src="10.0.0.1", dst="10.0.0.2"), dict(src="10.0.0.2", dst="10.0.0.1")


def test_a_syn_answered_by_a_reset_is_refused(tmp_path):
    path = _write(tmp_path / "refused.pcap", Ether() / IP(**C) / TCP(sport=40000, dport=8080, flags="S", seq=100),
                  Ether() / IP(**S) / TCP(sport=8080, dport=40000, flags="RA", seq=0, ack=101))
    (conn,) = analyse(path).connections
    assert conn.verdict == "not-judged" and conn.reason.startswith("refused: the server answered the client's SYN")
    assert "port 8080" in conn.reason


def test_a_reset_after_the_handshake_is_not_a_refusal(tmp_path):
    path = _write(tmp_path / "reset.pcap", Ether() / IP(**C) / TCP(sport=40000, dport=8080, flags="S", seq=100),
                  Ether() / IP(**S) / TCP(sport=8080, dport=40000, flags="SA", seq=500, ack=101),
                  Ether() / IP(**C) / TCP(sport=40000, dport=8080, flags="A", seq=101, ack=501),
                  Ether() / IP(**S) / TCP(sport=8080, dport=40000, flags="RA", seq=501, ack=101))
    (conn,) = analyse(path).connections
    assert conn.verdict == "not-judged" and "refused" not in conn.reason


@needs_capture
def test_capture_says_a_connection_to_a_closed_port_was_refused(tmp_path):
    port = free_port()  # nothing listens there
    proc = subprocess.run([DUPLEXLAB, "capture", "--port", str(port), "-o", str(tmp_path / "c.pcapng"), "--",
                           sys.executable, "-c", f"import socket\ntry: socket.create_connection(('127.0.0.1', {port}))"
                           "\nexcept ConnectionRefusedError: pass"], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "refused: the server answered the client's SYN with a reset" in proc.stdout
    assert f"nothing listening on port {port}?" in proc.stdout
