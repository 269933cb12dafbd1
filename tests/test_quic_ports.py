"""A QUIC client on a UDP port tshark gives to another protocol: why the lab's http3 capture once failed the e2e
comparison, what the oracle does about it, and how the lab's clients keep out of it.

Wireshark finds QUIC by a heuristic, and UDP tries the ports' own dissectors before any heuristic; nothing is
registered on 443, so a client port that is registered wins: from 34980 (EtherCAT over UDP) the whole connection,
both ways, is dissected as ecatf and none of it decrypted. The fixture (tests/fixtures/quic-ports/record.py) holds
two alike connections, from 34980 and from 50000.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from analysis.protocols.dissect import Keylog, dissect
from analysis.wire.pcapread import FileFacts, read_frames
from services.common.quic import WIRESHARK_UDP_PORTS, client_port
from tests.oracle import compare_quic, tshark_quic_view, tshark_udp_ports

HERE = Path(__file__).resolve().parent / "fixtures"
TWO = HERE / "quic-ports" / "two-connections.pcapng"
FRAGMENTED = HERE / "fragments" / "quic-fragmented.pcapng"  # a client on an ordinary port
LAST_OF_FIRST = 12  # frames 1-12 are the connection from 34980, 13-24 the one from 50000
EPHEMERAL = range(32768, 61000)  # Linux's default ip_local_port_range, every container's


def _dissected(path: Path):
    facts = FileFacts(str(path))
    return dissect(read_frames(str(path), facts), keylog=Keylog(facts.keylog))


def test_tshark_reads_a_connection_from_port_34980_as_ethercat_and_the_other_as_quic():
    out = subprocess.run(["tshark", "-n", "-r", str(TWO), "-T", "fields", "-e", "frame.number", "-e",
                          "frame.protocols"], capture_output=True, text=True, check=True, timeout=60).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    assert len(rows) == 24
    first, second = rows[:LAST_OF_FIRST], rows[LAST_OF_FIRST:]
    assert all(p.endswith("udp:ecatf:data") for _, p in first), first
    assert all(":quic" in p for _, p in second), second
    assert {34980, 50000} <= {c.client[1] for c in _dissected(TWO).connections}  # duplexlab reads both


def test_the_oracle_tells_tshark_those_ports_are_quic_and_then_both_connections_agree():
    d = _dissected(TWO)
    ours, theirs, view = compare_quic(str(TWO), d)
    assert view.decoded_as == {34980}
    assert ours == theirs, {"only ours": ours - theirs, "only tshark": theirs - ours}
    first = {k for k in theirs if k[1] <= LAST_OF_FIRST}
    # Nothing of the first connection is left out: its streams and HTTP/3 frames, both ways, are compared.
    assert {k[0] for k in first} == {"stream", "h3"} and {k[3] for k in first} == {34980, 443}
    # Untold, tshark shows none of the first connection and the very same of the second.
    plain = tshark_quic_view(str(TWO)).events
    assert plain == {k: n for k, n in theirs.items() if k[1] > LAST_OF_FIRST}
    # A capture whose ports no dissector claims is read with no decode-as at all.
    assert compare_quic(str(FRAGMENTED), _dissected(FRAGMENTED))[2].decoded_as == set()


def test_the_lab_clients_avoid_every_ephemeral_port_tshark_gives_another_protocol():
    claimed = {p for p in tshark_udp_ports() if p in EPHEMERAL}
    assert 34980 in claimed and 443 not in tshark_udp_ports() and 8443 not in tshark_udp_ports()
    assert claimed <= WIRESHARK_UDP_PORTS, f"add to services/common/quic.py: {sorted(claimed - WIRESHARK_UDP_PORTS)}"


def test_client_port_is_an_ephemeral_one_never_one_to_avoid():
    # Half the range avoided: the kernel's first offer is refused about every other time, and another one drawn.
    avoid = WIRESHARK_UDP_PORTS | frozenset(range(EPHEMERAL.start, (EPHEMERAL.start + EPHEMERAL.stop) // 2))
    ports = [client_port(avoid) for _ in range(60)]
    assert all(p in EPHEMERAL and p not in avoid for p in ports), ports
    with pytest.raises(OSError, match="no UDP port outside the 28232 to avoid in 5 tries"):
        client_port(frozenset(EPHEMERAL), tries=5)
