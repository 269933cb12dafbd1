"""Differential test on the real-world corpus: our events agree with Wireshark's dissection."""

from __future__ import annotations

import pytest

from analysis.dissect import dissect
from analysis.pcapread import FileFacts, read_frames
from tests.oracle import our_events, wireshark_events

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
