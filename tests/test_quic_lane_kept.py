"""The 1-RTT fast lane a QUIC connection keeps (``_QConn.lane_c2s``/``lane_s2c``, read by each short packet instead of
the keys' own ``_lane``) is always the lane of that side's current keys, or None: through a key update (new keys, the
lane set back), and on both paths (pure, no lane is ever kept: the keys have none)."""

from __future__ import annotations

from analysis.events import C2S, S2C
from analysis.protocols.dissect import Keylog
from analysis.wire.decode import decode_udp
from analysis.wire.pcapread import FileFacts, read_frames
from analysis.wire.quic import _SD, QuicReader
from analysis.wire.quiccrypto import _native
from tests.quicpeers import key_update


def test_the_kept_lane_is_the_current_keys_lane_through_a_key_update(tmp_path):
    path = key_update(tmp_path / "ku.pcapng")
    facts = FileFacts(path)
    reader = QuicReader(Keylog(facts.keylog), iter(range(10**6)).__next__)
    # The 1-RTT keys each side had, one after another, and the lanes kept for them: by id, each held here, so that
    # a freed lane's id cannot be taken by the next one's and count two lanes as one.
    seen_keys: dict = {C2S: {}, S2C: {}}
    kept_lanes: dict = {C2S: {}, S2C: {}}
    for number, ts, linktype, data, _ in read_frames(path, facts):
        dg = decode_udp(linktype, data)
        if dg is None:
            continue
        reader.feed(number, ts, dg)
        for qc in {id(qc): qc for qc in reader.conns.values()}.values():
            for direction, lane in ((C2S, qc.lane_c2s), (S2C, qc.lane_s2c)):
                keys = qc.keys.get(_SD["1rtt"][direction])
                if keys is not None:
                    seen_keys[direction][id(keys)] = keys
                if lane is not None:
                    kept_lanes[direction][id(lane)] = lane
                    assert keys is not None and lane is keys._lane, (number, direction)
    assert len(seen_keys[C2S]) >= 2, "the client's keys were not updated: the test proves little"
    if _native() is not None:  # OpenSSL's contexts (wire._aead): the keys have lanes, kept, the client's new one too
        assert len(kept_lanes[C2S]) >= 2 and kept_lanes[S2C]
    else:  # cryptography's: no lane, none kept
        assert not kept_lanes[C2S] and not kept_lanes[S2C]
