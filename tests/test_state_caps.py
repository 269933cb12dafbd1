"""State a hostile capture could grow without bound, capped: non-QUIC UDP flows counted, the bytes an HTTP/3
connection holds unparsed, what the multiplexed carrier (carrier.Carried) keeps per request, and HTTP/2's gRPC
streams. Each cap is lowered by monkeypatch, grown past, and shown to hold the state down and to make what needed
the forgotten state inconclusive, naming the cap; below the cap, results are those of before."""

from __future__ import annotations

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from analysis.pipeline import analyse
from analysis.wire import quic
from tests.pcapng import write_pcap


def _udp_flows(path, flows: int, rounds: int) -> str:
    """``rounds`` datagrams on each of ``flows`` UDP flows that are not QUIC (DNS-like), interleaved."""
    frames = []
    for _ in range(rounds):
        for i in range(flows):
            pkt = Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=20000 + i, dport=53) / Raw(b"\x12\x34dns?")
            frames.append((1.0 + len(frames) * 1e-3, bytes(pkt)))
    return write_pcap(path, 1, frames)


def _udp_warning(path) -> str:
    [w] = [w for w in analyse(str(path)).warnings if "UDP datagrams" in w]
    return w


def test_udp_flows_below_the_cap_are_counted_exactly_as_before(tmp_path, monkeypatch):
    path = _udp_flows(tmp_path / "few.pcap", 6, 3)
    before = _udp_warning(path)
    monkeypatch.setattr(quic, "MAX_OTHER_FLOWS", 6)
    assert _udp_warning(path) == before
    assert before.startswith("18 UDP datagrams in 6 flows are not QUIC")


def test_a_flood_of_udp_flows_is_counted_up_to_the_cap(tmp_path, monkeypatch):
    path = _udp_flows(tmp_path / "flood.pcap", 40, 2)
    sizes: list[int] = []
    real = quic.QuicReader.feed

    def watching(self, frame, ts, dg):
        out = real(self, frame, ts, dg)
        sizes.append(len(self.other_flows))
        return out

    monkeypatch.setattr(quic.QuicReader, "feed", watching)
    assert _udp_warning(path).startswith("80 UDP datagrams in 40 flows")  # the default cap: exact
    sizes.clear()
    monkeypatch.setattr(quic, "MAX_OTHER_FLOWS", 8, raising=False)
    w = _udp_warning(path)
    assert max(sizes) == 8 and len(sizes) == 80
    assert w.startswith("80 UDP datagrams in at least 8 flows (more than the 8 duplexlab tells apart) are not QUIC")
