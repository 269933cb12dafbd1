"""``make lab``: build, start, run every scenario, finalize the captures, take down, check.

Usage: python -m lab.run [PROTOCOL...]   (default: every protocol the lab has)

Compose does the starting and stopping; the Docker SDK watches the clients run
to completion. Whatever happens (a client fails, Ctrl-C), the lab is taken down
and the captures are finalized. Exit: 0 every invariant holds; 1 a finding is
violated or inconclusive, or a client failed; 2 bad arguments or a missing capture.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import docker

from analysis import report
from analysis.errors import InputError
from analysis.pipeline import analyse

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "captures"
PROJECT = "duplexlab"
LAB_PROTOCOLS = ("http1", "websocket", "sse", "http2", "h2push", "grpc", "longpoll")
CLIENT_TIMEOUT = 180
QUIET_AFTER_CLIENTS = 1.5  # libpcap may still hold the last packets; stopping sooner loses them


class Stages:
    """One line per stage with its elapsed time: progress a person (or a CI log) can follow."""

    def __init__(self, quiet: bool = False) -> None:
        self.t0 = time.monotonic()
        self.quiet = quiet

    def say(self, text: str) -> None:
        if not self.quiet:
            print(f"[{time.monotonic() - self.t0:6.1f}s] {text}", flush=True)


def compose(*args: str, check: bool = True, capture: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, COMPOSE_BAKE="false", LAB_UID=str(_uid()), LAB_GID=str(_gid()))
    proc = subprocess.run(["docker", "compose", "--project-directory", str(ROOT), *args], cwd=ROOT, env=env,
                          text=True, capture_output=capture)
    if check and proc.returncode != 0:
        tail = (proc.stderr or "").strip().splitlines()[-5:]
        raise RuntimeError(f"docker compose {args[0]} failed: " + " / ".join(tail))
    return proc


def _uid() -> int:
    return int(os.environ.get("SUDO_UID", os.getuid()))


def _gid() -> int:
    return int(os.environ.get("SUDO_GID", os.getgid()))


def _give_to_user(path: Path) -> None:
    """Under sudo, what the lab writes belongs to the user who asked for it, not to root."""
    if os.getuid() == 0 and "SUDO_UID" in os.environ:
        os.chown(path, _uid(), _gid())


def run(protocols: list[str], quiet: bool = False) -> int:
    st = Stages(quiet)
    CAPTURES.mkdir(exist_ok=True)
    _give_to_user(CAPTURES)
    for p in protocols:
        for stale in (CAPTURES / f"{p}.pcapng", CAPTURES / f"{p}.pcapng.part"):
            stale.unlink(missing_ok=True)
    servers = [s for p in protocols for s in (f"{p}-server", f"capture-{p}")]
    clients = [f"{p}-client" for p in protocols]
    st.say(f"building images (cached after the first run) for {' '.join(protocols)}")
    compose("build", "--quiet")
    compose("down", "--remove-orphans", "--timeout", "20")
    failures: dict[str, str] = {}
    try:
        st.say("starting servers and capture sidecars")
        compose("up", "--detach", "--wait", *servers)
        st.say("running client scenarios")
        compose("up", "--detach", "--no-deps", *clients)
        failures = _wait_for_clients(clients, st)
        time.sleep(QUIET_AFTER_CLIENTS)
        st.say("stopping captures (finalizing pcapng)")
        compose("stop", "--timeout", "20", *[f"capture-{p}" for p in protocols])
    except KeyboardInterrupt:
        st.say("interrupted: taking the lab down (captures are finalized)")
        compose("down", "--remove-orphans", "--timeout", "20", check=False)
        return 130
    finally:
        compose("down", "--remove-orphans", "--timeout", "20", check=False)
    st.say("lab is down; checking captures")
    results = []
    for p in protocols:
        path = CAPTURES / f"{p}.pcapng"
        try:
            results.append(analyse(str(path.relative_to(ROOT)), p, scenario=True))
        except InputError as exc:
            failures[f"capture-{p}"] = str(exc)
    (CAPTURES / "report.json").write_text(report.document(results) + "\n")
    _give_to_user(CAPTURES / "report.json")
    print(report.table(results, color=report.use_color()))
    for name, why in failures.items():
        print(f"{name} failed: {why}", file=sys.stderr)
    ok = not failures and all(r.verdict == "pass" for r in results)
    st.say(f"{'all invariants hold' if ok else 'lab FAILED'}; captures and report.json are in captures/")
    return 0 if ok else 1


def _wait_for_clients(clients: list[str], st: Stages) -> dict[str, str]:
    api = docker.from_env()
    failures = {}
    for name in clients:
        found = api.containers.list(all=True, filters={"label": [f"com.docker.compose.project={PROJECT}",
                                                                 f"com.docker.compose.service={name}"]})
        if not found:
            failures[name] = "its container was not created"
            continue
        container = found[0]
        try:
            code = container.wait(timeout=CLIENT_TIMEOUT)["StatusCode"]
        except Exception:  # the SDK raises requests' timeout: the client hung
            container.kill()
            code = -1
        logs = container.logs(tail=15).decode("utf-8", "replace").rstrip()
        if code != 0:
            failures[name] = f"exit code {code}\n{logs}"
        st.say(f"  {name}: {'done' if code == 0 else 'FAILED'}")
    return failures


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    quiet = "--quiet" in args
    protocols = [a for a in args if not a.startswith("--")] or list(LAB_PROTOCOLS)
    unknown = [p for p in protocols if p not in LAB_PROTOCOLS]
    if unknown:
        print(f"error: the lab has no protocol {' '.join(unknown)}; choose from {' '.join(LAB_PROTOCOLS)}.",
              file=sys.stderr)
        return 2
    try:
        return run(list(dict.fromkeys(protocols)), quiet)
    except (RuntimeError, docker.errors.DockerException) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
