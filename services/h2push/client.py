"""HTTP/2 push client scenario: nghttp fetches / with push enabled, then again with SETTINGS_ENABLE_PUSH=0."""

from __future__ import annotations

import subprocess
import sys

from services.common import PORT, TIMEOUT, WIRE_JUDGES, log, server_host

out = log("h2push-client")
URL = f"http://{server_host('h2push')}:{PORT}/"


def fetch(*extra: str) -> str:
    proc = subprocess.run(["nghttp", "-nv", "-t", str(int(TIMEOUT)), *extra, URL], capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"nghttp {' '.join(extra)} failed: {proc.stderr.strip()[-300:]}")
    return proc.stdout


def main() -> int:
    pushed = fetch()
    quiet = fetch("--no-push")
    got_push, no_push = "PUSH_PROMISE" in pushed, "PUSH_PROMISE" not in quiet
    out.info("push enabled: PUSH_PROMISE received=%s; push disabled: none received=%s", got_push, no_push)
    return 0 if WIRE_JUDGES or (got_push and no_push) else 1


if __name__ == "__main__":
    sys.exit(main())
