"""Every cleartext invariant test, run again over TLS: the same crafted conversations encrypted (TLS 1.3, keys in a
DSB) must hold and break exactly as in cleartext, at the same frames (the frame of each event's first byte)."""

from __future__ import annotations

import inspect
from importlib import import_module

import pytest

from tests.tlscraft import Tls13Writer, TlsConv

# module -> the ALPN its conversations are negotiated with
MODULES = {"tests.test_sse_invariants": "http/1.1", "tests.test_websocket_invariants": "http/1.1",
           "tests.test_http1_invariants": "http/1.1", "tests.test_longpoll_invariants": "http/1.1",
           "tests.test_websocket_h2_invariants": "h2", "tests.test_http2_invariants": "h2"}

# Cases that do not carry over, and why (each has a TLS counterpart in tests/test_tls_reader.py where it matters):
# the TLS handshake adds three frames, so a frame number written into the test shifts; a test that dissects without
# the keys sees no events; a segment written at a seq offset is sealed into its own record, not a piece of one; and a
# capture joined mid-connection has no TLS handshake, so over TLS it is rightly inconclusive.
NOT_CARRIED = {
    "test_one_response_many_events_broken_by_a_non_200_stream": "frame number written in",
    "test_upgrade_holds": "frame numbers written in",
    "test_client_speaks_first_holds": "frame number written in",
    "test_event_time_is_the_wire_time_of_its_bytes": "dissects without keys; see test_tls_reader",
    "test_large_and_fragmented_frames_across_segments": "dissects without keys; see test_tls_reader",
    "test_headers_with_continuation_across_segments": "dissects without keys; see test_tls_reader",
    "test_response_split_and_reordered_is_reassembled": "seq offsets split a record's worth of bytes",
    "test_capture_starting_mid_connection_is_judged_from_the_first_request": "no TLS handshake: inconclusive, "
                                                                              "see test_tls_statuses",
    "test_no_http2_at_all_is_inconclusive": "sends raw TLS-looking bytes itself",
}


def _cases():
    for module in MODULES:
        mod = import_module(module)
        for name, fn in vars(mod).items():
            if (name.startswith("test_") and callable(fn) and name not in NOT_CARRIED
                    and set(inspect.signature(fn).parameters) <= {"tmp_path"}):
                yield module, name


@pytest.mark.parametrize(("module", "name"), list(_cases()))
def test_cleartext_case_over_tls(module, name, tmp_path, monkeypatch):
    mod = import_module(module)
    alpn = MODULES[module]
    monkeypatch.setattr(mod, "Conv", lambda *a, **kw: TlsConv(*a, writer=Tls13Writer(alpn=alpn), **kw))
    getattr(mod, name)(tmp_path)


def test_the_cases_run_over_tls_are_many():
    """The carried-over cases are most of the cleartext ones (a rename upstream cannot empty this file)."""
    assert len(list(_cases())) >= 35
