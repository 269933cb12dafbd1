"""Bounded TCP state (issue 23, DESIGN.md "Bounded state"): an unfinished handshake costs a small record concluded
after a few capture seconds, a connection silent past the inactivity timeout (capture time) is concluded through
the ordinary end and counted, and neither changes a verdict. State counts are asserted, not timing."""

from __future__ import annotations

import subprocess
import sys

from analysis.findings import Status
from analysis.pipeline import analyse
from analysis.wire.tcp import ATTEMPT_TIMEOUT, SWEEP_EVERY
from benchmarks.make_capture import write_flood
from tests.crafted import C, Conv, S, get, ok


def _capture(result) -> dict:
    return result.measures["capture"]


def _idle_pair(tmp_path, late: bool = False) -> str:
    """Connection A answers one request then says nothing, never closing; B talks every 10 s for 400 s (its packets
    move the capture's clock), then closes. ``late``: A sends one more request after B's last exchange."""
    a = Conv().handshake()
    a.send(C, get("/a"))
    a.send(S, ok())
    b = a.other()
    b.handshake()
    for i in range(40):
        b.send(C, get(f"/b{i}"), dt=5)
        b.send(S, ok(), dt=5)
    if late:
        a.t = b.t + 1
        a.send(C, get("/late"))
    b.close(C)
    b.close(S)
    return a.write(tmp_path / f"idle-{late}.pcap")


def test_a_connection_idle_past_the_timeout_is_concluded_counted_and_judged_the_same(tmp_path):
    path = _idle_pair(tmp_path)
    timed = analyse(path, idle_timeout=300)
    never = analyse(path, idle_timeout=0)
    assert _capture(timed)["connections_ended_idle"] == 1
    assert _capture(timed)["idle_timeout_s"] == 300
    assert _capture(never)["connections_ended_idle"] == 0 and _capture(never)["idle_timeout_s"] is None
    assert timed.verdict == never.verdict == "pass"
    assert [(c.id, c.verdict, [f.status for f in c.findings]) for c in sorted(timed.connections, key=lambda c: c.id)] \
        == [(c.id, c.verdict, [f.status for f in c.findings]) for c in sorted(never.connections, key=lambda c: c.id)]


def test_a_connection_silent_for_less_than_the_timeout_stays_open(tmp_path):
    path = _idle_pair(tmp_path)
    assert _capture(analyse(path, idle_timeout=1000))["connections_ended_idle"] == 0
    assert _capture(analyse(path, idle_timeout=100))["connections_ended_idle"] == 1


def test_a_segment_after_the_idle_end_is_late_not_a_new_connection(tmp_path):
    path = _idle_pair(tmp_path, late=True)
    timed = analyse(path, idle_timeout=300)
    assert _capture(timed)["connections_ended_idle"] == 1
    assert sum(sum(v.values()) for v in timed.connection_counts.values()) == 2  # no phantom third connection
    assert any("arrived after their connection had ended" in w for w in timed.warnings)
    never = analyse(path, idle_timeout=0)
    assert not any("arrived after their connection had ended" in w for w in never.warnings)


def test_syn_flood_costs_attempts_of_the_last_seconds_only(tmp_path):
    path = str(tmp_path / "syn.pcap")
    count, spacing = 20_000, 0.001  # 20 capture seconds: 1000 SYNs a second
    write_flood("syn", count, path, spacing)
    result = analyse(path)
    cap = _capture(result)
    window = ATTEMPT_TIMEOUT / spacing
    assert window <= cap["handshake_attempts_peak"] <= (ATTEMPT_TIMEOUT + SWEEP_EVERY) / spacing + 10  # not 20 000
    assert cap["open_connections_peak"] <= 1  # no attempt ever became a full connection while the capture ran
    assert result.connection_counts == {"empty": {"not-judged": count}}  # each still accounted for, once
    assert result.verdict == "inconclusive"


def test_syn_then_syn_ack_is_still_an_attempt_and_the_ack_makes_it_a_connection(tmp_path):
    c = Conv()
    c.t += 0.001
    c._pkt(C, "S", c.seq[C] - 1)
    c.t += 0.001
    c._pkt(S, "SA", c.seq[S] - 1)
    c.t += 0.001
    c._pkt(C, "S", c.seq[C] - 1)  # a retransmitted SYN: the same attempt
    path = c.write(tmp_path / "attempt.pcap")
    result = analyse(path)
    assert _capture(result)["handshake_attempts_peak"] == 1 and _capture(result)["open_connections_peak"] == 0
    [conn] = result.connections
    assert conn.verdict == "not-judged"
    c.ack(C)
    c.send(C, get("/"))
    c.send(S, ok())
    done = analyse(c.write(tmp_path / "done.pcap"))
    assert done.verdict == "pass" and done.measures["packets"] == {"client->server": 4, "server->client": 2}


def test_half_open_flood_is_bounded_by_the_idle_timeout(tmp_path):
    path = str(tmp_path / "halfopen.pcap")
    count, spacing, idle = 10_000, 0.01, 10.0  # 100 capture seconds; a connection is silent after its request
    write_flood("halfopen", count, path, spacing)
    timed = analyse(path, idle_timeout=idle)
    cap = _capture(timed)
    assert cap["open_connections_peak"] <= idle / spacing * 1.2  # ~1000 open at once, not 10 000
    assert cap["connections_ended_idle"] >= count - idle / spacing * 1.2
    never = analyse(path, idle_timeout=0)
    assert _capture(never)["open_connections_peak"] == count
    assert timed.verdict == never.verdict and timed.connection_counts == never.connection_counts


def test_idle_timeout_option(tmp_path):
    path = _idle_pair(tmp_path)
    cmd = [sys.executable, "-m", "analysis", "check", "--json", "--idle-timeout", "100", path]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and '"connections_ended_idle": 1' in out.stdout
    bad = subprocess.run([*cmd[:6], "soon", path], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--idle-timeout takes a number of seconds" in bad.stderr


def test_a_flood_from_many_addresses_leaves_no_address_state_behind(tmp_path):
    from analysis.pipeline import analyse_and_judge

    path = str(tmp_path / "syn.pcap")
    write_flood("syn", 3000, path, 0.01)  # 30 capture seconds: most attempts concluded while the capture runs
    _, judge = analyse_and_judge(path)
    assert not judge.path.clients and not judge.path.servers and not judge.open
    held = str(tmp_path / "halfopen.pcap")
    write_flood("halfopen", 50, held)
    _, judge = analyse_and_judge(held)
    assert sum(judge.path.clients.values()) == 50  # connections that carried a request still count for the path


def test_state_of_concluded_attempts_and_short_connections_is_released(tmp_path):
    from analysis.wire.decode import decode
    from analysis.wire.pcapread import FileFacts, read_frames
    from analysis.wire.tcp import Reassembler

    path = str(tmp_path / "mixed.pcap")
    write_flood("syn", 4000, path, 0.005)  # 20 capture seconds of SYNs
    tcp, next_sweep, seen = Reassembler(idle_timeout=300), 0.0, []
    for number, ts, linktype, data, wirelen in read_frames(path, FileFacts(path)):
        if ts >= next_sweep:
            seen.extend(tcp.sweep(ts))
            next_sweep = ts + 1
        tcp.feed(number, ts, decode(linktype, data, wirelen))
    assert len(tcp._attempts) <= (ATTEMPT_TIMEOUT + SWEEP_EVERY) / 0.005 + 1  # the last seconds' only
    assert not tcp._idle and not tcp._new and not tcp._conns  # concluded attempts leave no idle-heap entry
    assert sum(x.__class__.__name__ == "Ended" for x in seen) == 4000 - len(tcp._attempts)


def test_too_many_open_at_once_concludes_the_least_active_early_and_says_so(tmp_path, monkeypatch):
    """A cap on connections open at once (tcp.MAX_OPEN, a memcap by count): past it the least recently active are
    concluded early; what held on them is inconclusive (their later bytes are not judged), never ok."""
    import analysis.wire.tcp as tcp

    monkeypatch.setattr(tcp, "MAX_OPEN", 16)
    path = str(tmp_path / "halfopen.pcap")
    write_flood("halfopen", 40, path, 0.0)
    result = analyse(path)
    cap = _capture(result)
    assert cap["open_connections_peak"] <= 16 and cap["connections_evicted"] >= 24
    early = [c for c in result.connections if c.findings and all(
        f.status is not Status.OK for f in c.findings)]
    assert len(early) == cap["connections_evicted"]
    assert all("concluded early" in f.detail for c in early for f in c.findings)
    assert result.verdict == "inconclusive"
    assert any("concluded early because 16 were open at once" in w for w in result.warnings)
    monkeypatch.setattr(tcp, "MAX_OPEN", 1000)
    whole = analyse(path)
    assert _capture(whole)["connections_evicted"] == 0 and whole.verdict == "pass"


def test_a_violation_seen_before_the_connection_was_concluded_early_stands(tmp_path, monkeypatch):
    import analysis.wire.tcp as tcp

    monkeypatch.setattr(tcp, "MAX_OPEN", 4)
    first = Conv().handshake()
    first.send(S, ok())  # the server answers before anything was asked: violated on the spot
    first.send(C, get())
    for n in range(8):  # then enough others open that the first is the least recently active
        other = first.other(client=("10.0.0.1", 41000 + n)).handshake()
        other.send(C, get())
    result = analyse(first.write(tmp_path / "early.pcap"))
    assert _capture(result)["connections_evicted"] >= 1
    f = next(f for f in result.findings if f.invariant == "http1.response-follows-request")
    assert f.status is Status.VIOLATED


def test_the_least_active_is_told_by_its_last_segment_on_the_fast_lane_too(tmp_path, monkeypatch):
    """Eviction reads when each connection was last active: the fast lane's last segments count (``Lane.settle``),
    so the connection that opened first but spoke last stays open, and one that fell silent is concluded early."""
    import analysis.wire.tcp as tcp

    monkeypatch.setattr(tcp, "MAX_OPEN", 4)
    first = Conv().handshake()
    others = [first.other(client=("10.0.0.1", 41000 + n)).handshake() for n in range(3)]
    for other in others:
        other.send(C, get())
    for n in range(3):  # the first keeps talking, on the fast lane, after the others opened and fell silent
        first.send(C, get(f"/{n}"))
        first.send(S, ok())
    late = first.other(client=("10.0.0.1", 42000)).handshake()  # the fifth: one must be concluded early
    late.send(C, get())
    result = analyse(first.write(tmp_path / "busy-first.pcap"))
    assert _capture(result)["connections_evicted"] >= 1
    early = {c.client[1] for c in result.connections if any("concluded early" in f.detail for f in c.findings)}
    assert early and early <= {o.ep[C][1] for o in others}, early
