"""``make lab``: build, start, run every scenario, finalize the captures, take down, check.

Usage: python -m lab.run [PROTOCOL...]   (default: every protocol the lab has)
       python -m lab.run --via nginx|nginx-streaming|haproxy [PROTOCOL...]   (through a reverse proxy)
       python -m lab.run --profile misbehave [SCENARIO...]
       python -m lab.run PROTOCOL --server-image IMAGE [--server-port PORT] [--server-path PATH]

Compose does the starting and stopping; the Docker SDK watches the clients run
to completion. Whatever happens (a client fails, Ctrl-C), the lab is taken down
and the captures are finalized. Exit: 0 every invariant holds; 1 a finding is
violated or inconclusive, a client failed or a capture is missing; 2 bad arguments.

The misbehave profile runs deliberately wrong peers instead; there, success means
every misbehaviour was caught by the invariant that names it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import docker

from analysis.cli import write_report
from analysis.errors import InputError
from analysis.pipeline import analyse_and_draw
from analysis.render import document
from analysis.render import table as report
from analysis.render.annotate import comments, write_annotated

from . import via as proxies
from .byo import SERVICE, YourServer, check, write_override
from .scenarios import JUDGED_AS, LAB_PROTOCOLS, MISBEHAVIOURS, NOTES, TLS_SCENARIOS
from .secrets import inject_secrets

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "captures"
PROJECT = "duplexlab"
CLIENT_TIMEOUT = 180
QUIET_AFTER_CLIENTS = 1.5  # libpcap may still hold the last packets; stopping sooner loses them


class Stages:
    """One line per stage with its elapsed time: progress a person (or a CI log) can follow."""

    def __init__(self, quiet: bool = False) -> None:
        self.t0 = time.monotonic()
        self.quiet = quiet

    def say(self, text: str) -> None:
        if not self.quiet:
            self._clear_bar()
            print(f"[{time.monotonic() - self.t0:6.1f}s] {text}", flush=True)

    def bar(self, done: int, total: int, what: str) -> None:
        """A one-line progress bar on a terminal; nothing in a CI log (the stage lines say it all)."""
        if self.quiet or not sys.stdout.isatty():
            return
        filled = round(20 * done / total)
        sys.stdout.write(f"\r         [{'#' * filled}{'.' * (20 - filled)}] {done}/{total} {what}")
        sys.stdout.flush()
        self._bar_shown = done < total

    def _clear_bar(self) -> None:
        if getattr(self, "_bar_shown", False):
            sys.stdout.write("\r" + " " * 70 + "\r")
            self._bar_shown = False


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


def run(scenarios: list[str], profile: str = "", quiet: bool = False, yours: YourServer | None = None,
        via: str = "") -> int:
    """Run ``scenarios`` (protocol names, or misbehaviour names under the misbehave profile); with ``yours``,
    the one protocol's scenario runs against your server image instead of the lab's; with ``via``, every
    scenario runs through that reverse proxy and the capture holds both legs."""
    st = Stages(quiet)
    CAPTURES.mkdir(exist_ok=True)
    _give_to_user(CAPTURES)
    captures = {name: (f"misbehave-{name}" if profile else name) for name in scenarios}
    for name, cap in captures.items():
        # A key log left by an interrupted run would be embedded in this run's capture, beside its own keys.
        for stale in (CAPTURES / f"{cap}.pcapng", CAPTURES / f"{cap}.pcapng.part", CAPTURES / f".{name}.keys"):
            stale.unlink(missing_ok=True)
        # The capture sidecar writes this into the pcapng's section header as its comment.
        note = CAPTURES / f".{cap}.comment"
        note.write_text(NOTES[name])
        _give_to_user(note)
    servers = [s for n in scenarios for s in (f"{n}-server", f"capture-{n}")]
    clients = [f"{n}-client" for n in scenarios]
    flags: tuple[str, ...] = ("--profile", profile) if profile else ()
    if yours is not None:
        (name,) = scenarios
        over = write_override(yours, name, 443 if name in TLS_SCENARIOS else 8080, CAPTURES)
        flags = ("-f", str(ROOT / "docker-compose.yml"), "-f", str(over))
        servers = [SERVICE, f"capture-{name}"]
        st.say(f"judging your server: {yours.describe()}")
    if via:
        over = proxies.write_override(via, scenarios, CAPTURES)
        flags = ("-f", str(ROOT / "docker-compose.yml"), "-f", str(over))
        servers = [s for n in scenarios for s in (f"{n}-server", proxies.service(n), f"capture-{n}")]
        st.say(f"through {via}: each client talks to {via}, which talks to the server; the capture sees both legs")
    st.say(f"building images (cached after the first run) for {' '.join(scenarios)}")
    compose(*flags, "build", "--quiet")
    compose(*flags, "down", "--remove-orphans", "--timeout", "20")
    failures: dict[str, str] = {}
    try:
        st.say("starting servers and capture sidecars")
        if yours is None:
            compose(*flags, "up", "--detach", "--wait", *servers)
        else:  # your server first, then the sidecar in its namespace (ready once your server listens)
            for service in servers:
                compose(*flags, "up", "--detach", "--wait", "--no-deps", service)
        st.say("running client scenarios")
        compose(*flags, "up", "--detach", "--no-deps", *clients)
        failures = _wait_for_clients(clients, st)
        time.sleep(QUIET_AFTER_CLIENTS)
        st.say("stopping captures (finalizing pcapng)")
        compose(*flags, "stop", "--timeout", "20", *[f"capture-{n}" for n in scenarios])
    except KeyboardInterrupt:
        st.say("interrupted: taking the lab down (captures are finalized)")
        return 130
    finally:
        compose(*flags, "down", "--remove-orphans", "--timeout", "20", check=False)
    for cap in captures.values():
        (CAPTURES / f".{cap}.comment").unlink(missing_ok=True)
    for name in (n for n in scenarios if n in TLS_SCENARIOS and not profile):
        failures.update(_embed_secrets(name))
    st.say("lab is down; checking captures")
    results, drawn = {}, []
    for name, cap in captures.items():
        path = CAPTURES / f"{cap}.pcapng"
        protocol = MISBEHAVIOURS[name][0] if profile else JUDGED_AS.get(name, name)
        try:
            # Through a proxy the path findings replace the scenario's expectations, which were written for a
            # direct connection: what the proxy did to them is the question, not a fault of the peers.
            result, lads = analyse_and_draw(str(path.relative_to(ROOT)), protocol, scenario=not profile and not via)
        except InputError as exc:
            failures[f"capture-{name}"] = str(exc)
            continue
        if yours is not None:
            result.server = yours.describe()
        if via:
            result.server = f"via {via}"
        results[name] = result
        drawn.append((result, lads))
        _annotate_in_place(path, result)
    page = CAPTURES / ("misbehave-report.html" if profile else "report.html")
    write_report(drawn, str(page), str(CAPTURES))
    for written in [page, *(CAPTURES / f"{cap}.mmd" for cap in captures.values())]:
        if written.exists():
            _give_to_user(written)
    report_name = "misbehave-report.json" if profile else "report.json"
    (CAPTURES / report_name).write_text(document.document(list(results.values())) + "\n")
    _give_to_user(CAPTURES / report_name)
    ok = not failures and (_all_caught(results) if profile else all(r.verdict == "pass" for r in results.values()))
    if not quiet or not ok:  # --quiet: the table only when something needs reading
        print(report.table(list(results.values()), color=report.use_color()))
    for name, why in failures.items():
        print(f"{name} failed: {why}", file=sys.stderr)
    verdict = ("every misbehaviour was caught" if profile else "all invariants hold") if ok else "lab FAILED"
    st.say(f"{verdict}; captures and {report_name} are in captures/")
    return 0 if ok else 1


def _annotate_in_place(cap: Path, result) -> None:
    """The findings as packet comments in the capture itself (check --annotate), so Wireshark shows them."""
    tmp = cap.with_suffix(".annotated")
    write_annotated(str(cap), str(tmp), comments(result))
    os.replace(tmp, cap)
    _give_to_user(cap)


def _embed_secrets(name: str) -> dict[str, str]:
    """Put the client's TLS session keys inside the capture, so Wireshark decrypts it with no settings
(what ``editcap --inject-secrets`` does, keeping the capture's statistics: see lab/secrets.py)."""
    keys, cap = CAPTURES / f".{name}.keys", CAPTURES / f"{name}.pcapng"
    if not keys.exists() or not cap.exists():
        return {f"{name}-client": "no TLS session keys were written (SSLKEYLOGFILE)"}
    tmp = cap.with_suffix(".with-keys")
    tmp.write_bytes(inject_secrets(cap.read_bytes(), keys.read_bytes()))
    keys.unlink()
    os.replace(tmp, cap)
    _give_to_user(cap)
    return {}


def _all_caught(results: dict) -> bool:
    """Under the misbehave profile: each scenario fails, and on the invariant that names its fault."""
    caught = True
    for name, result in results.items():
        violated = {f.invariant for f in result.findings if f.status.value == "violated"}
        missing = [i for i in MISBEHAVIOURS[name][1] if i not in violated]
        print(f"{name}: expected {', '.join(MISBEHAVIOURS[name][1])} violated -> "
              f"{'caught' if not missing else 'NOT caught: ' + ', '.join(missing)}")
        caught = caught and not missing
    return caught and bool(results)


def _wait_for_clients(clients: list[str], st: Stages) -> dict[str, str]:
    api = docker.from_env()
    failures = {}
    for done, name in enumerate(clients, 1):
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
        st.bar(done, len(clients), "clients finished")
    return failures


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    quiet = "--quiet" in args
    profile = ""
    if "--profile" in args:
        i = args.index("--profile")
        profile = args[i + 1] if i + 1 < len(args) else ""
        args = args[:i] + args[i + 2:]
        if profile != "misbehave":
            print(f"error: unknown profile '{profile}'; the lab has one: misbehave.", file=sys.stderr)
            return 2
    yours, args = _your_server(args)
    via, args = _option(args, "--via")
    known = tuple(MISBEHAVIOURS) if profile else LAB_PROTOCOLS
    asked = [a for a in args if not a.startswith("--")]
    names = asked or list(known)
    unknown = [n for n in names if n not in known]
    if unknown:
        print(f"error: the lab has no {'misbehaviour' if profile else 'protocol'} {' '.join(unknown)}; "
              f"choose from {' '.join(known)}.", file=sys.stderr)
        return 2
    if yours is not None and (why := check(yours, names, profile)):
        print(f"error: {why}", file=sys.stderr)
        return 2
    if via:
        why = proxies.check(via, names, explicit=bool(asked))
        if why or profile or yours is not None:
            print(f"error: {why or 'VIA cannot be combined with PROFILE or SERVER_IMAGE.'}", file=sys.stderr)
            return 2
        names, skipped = proxies.carried(via, names)
        for p in skipped:
            print(f"{via} does not carry {p}: {proxies.WHY_NOT.get(p, 'it is not set up for it')}.")
    try:
        return run(list(dict.fromkeys(names)), profile, quiet, yours, via)
    except (RuntimeError, docker.errors.DockerException) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _option(args: list[str], name: str) -> tuple[str, list[str]]:
    """Take ``name VALUE`` out of ``args``."""
    if name not in args:
        return "", args
    i = args.index(name)
    return (args[i + 1] if i + 1 < len(args) else ""), args[:i] + args[i + 2:]


def _your_server(args: list[str]) -> tuple[YourServer | None, list[str]]:
    """Take --server-image/--server-port/--server-path out of ``args``."""
    values: dict[str, str] = {}
    rest = []
    it = iter(args)
    for a in it:
        if a in ("--server-image", "--server-port", "--server-path"):
            values[a[9:]] = next(it, "")
        else:
            rest.append(a)
    if not values.get("image"):
        return None, rest
    port = values.get("port") or None
    return YourServer(values["image"], int(port) if port and port.isdigit() else (-1 if port else None),
                      values.get("path") or None), rest


if __name__ == "__main__":
    sys.exit(main())
