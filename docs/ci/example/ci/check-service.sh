#!/usr/bin/env bash
# What both CI examples run once duplexlab is installed: start the service, run the
# capture-backed test, then record a plain client with `duplexlab capture`. JUnit files:
# pytest-junit.xml (the test) and duplexlab-junit.xml (one case per invariant). Captures: captures/.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${TICKER_PORT:-8000}
python ticker.py "$PORT" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
python - "$PORT" <<'PY'  # wait until the service listens
import socket, sys, time
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close()
        break
    except OSError:
        time.sleep(0.1)
PY
mkdir -p captures
TICKER_PORT=$PORT python -m pytest test_ticker.py -p no:cacheprovider --junitxml=pytest-junit.xml \
  --duplexlab-keep=captures
duplexlab capture --port "$PORT" -o captures/urllib-client.pcapng --junit duplexlab-junit.xml -- \
  python -c "import sys, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{sys.argv[1]}/events').read()" "$PORT"
