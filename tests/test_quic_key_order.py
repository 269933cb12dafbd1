"""QUIC packets whose keys come later, or never: reordered server datagrams, a missing ServerHello, a key log that
lacks one secret.

The fixture is one HTTP/3 connection of the lab (aioquic client and server, tests/fixtures/quic-order/), its keys
in its Decryption Secrets Block; the server's first flight spans several datagrams, the first holding its
ServerHello. A capture can put a later one of them first: RFC 9001 §4.1.4 has a peer buffer what it cannot open
yet, and the reader holds such packets until the ServerHello gives their keys (``quic.EARLY_KEPT``). What cannot be
read says why, naming what is missing; a connection read whole is judged as it was.
"""

from __future__ import annotations

import struct
from pathlib import Path

from analysis.pipeline import analyse
from analysis.protocols.dissect import Keylog, dissect
from analysis.wire.pcapread import FileFacts, read_frames
from analysis.wire.quic import EARLY_KEPT
from lab.secrets import inject_secrets, strip_secrets
from tests.oracle import compare_quic, our_quic_events

LAB = Path(__file__).resolve().parent / "fixtures" / "quic-order" / "aioquic-lab-connection.pcapng"
SERVER_HELLO = 2  # frame 2: the server's Initial (ServerHello) with a Handshake packet; 3-5: more of its Handshake
RESENT_HELLO = 4  # frame 4: its Initial again (the ServerHello resent, aioquic's probe timeout) with a Handshake packet
PACKETS = 51
REST = [3, *range(5, PACKETS + 1)]  # every frame but the client's first Initial and the two ServerHellos


def _reordered(path: Path, order: list[int]) -> Path:
    """LAB with its packets (1-based frame numbers) in ``order`` (others left out); other blocks stay where they are
    relative to the packets: before the first, or after the last."""
    data = LAB.read_bytes()
    at, head, packets, tail = 0, [], [], []
    while at + 8 <= len(data):
        kind, size = struct.unpack_from("<II", data, at)
        block = data[at:at + size]
        (packets if kind == 6 else tail if packets else head).append(block)
        at += size
    assert len(packets) == PACKETS
    path.write_bytes(b"".join(head) + b"".join(packets[i - 1] for i in order) + b"".join(tail))
    return path


def _dissection(path: Path):
    facts = FileFacts(str(path))
    return dissect(read_frames(str(path), facts), keylog=Keylog(facts.keylog))


def _events(path: Path):
    return our_quic_events(_dissection(path))


def _unread(result) -> list[str]:
    return [f.detail for f in result.findings if f.invariant == "quic.decrypted"]


def test_a_server_datagram_before_its_serverhello_is_read_once_the_serverhello_comes(tmp_path):
    whole = analyse(str(LAB))
    assert whole.verdict == "pass" and not _unread(whole)
    swapped = _reordered(tmp_path / "swapped.pcapng", [1, 3, SERVER_HELLO, *range(4, PACKETS + 1)])
    result = analyse(str(swapped))
    assert (result.verdict, _unread(result)) == ("pass", [])
    # The same stream and HTTP/3 events as the capture in order (frames 2 and 3 carry only handshake data), and what
    # tshark reads of the reordered capture.
    ours = _events(swapped)
    assert sum(ours.values()) > 20 and ours == _events(LAB)
    ours_seen, theirs, _ = compare_quic(str(swapped), _dissection(swapped))
    assert ours_seen == theirs


def test_more_early_packets_than_held_leave_the_connection_unread_and_say_so(tmp_path):
    late = _reordered(tmp_path / "late.pcapng", [1, *REST, SERVER_HELLO, RESENT_HELLO])
    result = analyse(str(late))
    assert result.verdict == "inconclusive"
    [why] = _unread(result)
    assert f"more than {EARLY_KEPT} of its packets came before the server's ServerHello" in why


def test_a_connection_whose_serverhello_was_not_captured_says_so(tmp_path):
    cut = _reordered(tmp_path / "no-hello.pcapng", [1, *REST[:EARLY_KEPT - 2]])
    result = analyse(str(cut))
    assert result.verdict == "inconclusive"
    [why] = _unread(result)
    assert "ServerHello was not captured" in why and "1-RTT secrets" not in why


def test_a_key_log_without_one_secret_names_it(tmp_path):
    facts = FileFacts(str(LAB))
    for _ in read_frames(str(LAB), facts):
        pass
    bare = strip_secrets(LAB.read_bytes())
    for label, space, who in (("CLIENT_HANDSHAKE_TRAFFIC_SECRET", "handshake", "client"),
                              ("SERVER_TRAFFIC_SECRET_0", "1rtt", "server")):
        keylog = b"".join(line for line in bytes(facts.keylog).splitlines(keepends=True)
                          if not line.startswith(label.encode()))
        assert keylog != bytes(facts.keylog)
        path = tmp_path / f"without-{label}.pcapng"
        path.write_bytes(inject_secrets(bare, keylog))
        result = analyse(str(path))
        assert result.verdict == "inconclusive"
        [why] = _unread(result)
        assert f"the key log has no {label} for it, so its {space} packets from the {who} cannot be opened" in why
