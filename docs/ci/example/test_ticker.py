"""A capture-backed test of the ticker: does /events really stream, and does only the server talk?"""

import os
import urllib.request

PORT = int(os.environ.get("TICKER_PORT", "8000"))


def test_events_stream_from_the_server(duplexlab):
    with duplexlab.capture(port=PORT) as cap:
        with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/events", timeout=10) as resp:
            resp.read()
    cap.assert_holds()  # every protocol invariant of every connection
    cap.assert_holds("sse.server-pushes-events", at_least=5, spread=0.5)  # five events, spread over 0.5 s or more
    assert cap.result.verdict == "pass"
