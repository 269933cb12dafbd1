"""Differential test on the real-world corpus: our events agree with Wireshark's dissection."""

from __future__ import annotations

import json

import pytest

from analysis.protocols.dissect import dissect
from analysis.wire.pcapread import FileFacts, read_frames
from tests.conftest import CORPUS
from tests.oracle import our_events, our_h2_events, tshark_h2_events, wireshark_events

FILES = [
    "http1-keepalive-5req-zeek.pcap", "http1-browse-workshop2011-zeek.pcap", "http1-ajax-xhr-polling-susam.pcap",
    "http1-docker-upgrade-and-blocking-wait-zeek.pcap", "http1-chunked-scapy.pcap", "ws-jupyter-kernel-zeek.pcap",
    "ws-broker-zeek.pcap", "ws-wstunnel-ssh-zeek.pcap", "ws-basic-suricata.pcap", "ws-compressed-session-scapy.pcap",
    "ws-servertime-flask-susam.pcap", "ws-arkime.pcap", "sse-servertime-flask-susam.pcap",
]


@pytest.mark.parametrize("name", FILES)
def test_events_agree_with_wireshark(corpus, name):
    path = str(corpus / name)
    ours = our_events(dissect(read_frames(path, FileFacts(path))))
    theirs = wireshark_events(path)
    assert ours == theirs, {"only ours": ours - theirs, "only wireshark": theirs - ours}


H2_FILES = sorted(p.name for p in CORPUS.glob("h2c-*")) + sorted(p.name for p in CORPUS.glob("grpc-*"))


@pytest.mark.parametrize("name", H2_FILES or ["(corpus missing)"])
def test_http2_frames_and_grpc_messages_agree_with_tshark(corpus, name):
    """tshark needs decode-as for h2c on odd ports (the ground truth names it); our reader needs nothing."""
    path = str(corpus / name)
    args = json.loads((corpus / "groundtruth" / f"{name}.json").read_text())["tshark_extra_args"]
    ours = our_h2_events(dissect(read_frames(path, FileFacts(path))))
    theirs = tshark_h2_events(path, tuple(args.split()))
    assert ours == theirs, {"only ours": ours - theirs, "only tshark": theirs - ours}
    assert sum(ours.values()) > 0
