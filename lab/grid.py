"""``make grid``: the interop grid, protocol × server × client, each cell captured and judged on the wire.

Usage: python -m lab.grid [--cells 'websocket/node/chromium ...'] [--shard I/N] [--link slow] [--via PROXY] [--out DIR]
       python -m lab.grid --rejudge [--out DIR]   (judge grid.json's captures again; no Docker)
       python -m lab.grid --markdown [--out DIR]  (grid.json as the README's table)

Each cell starts its server, a capture sidecar in the server's network namespace and then its client in the
compose project ``duplexlab-grid`` (its own bridge and subnet: the lab's project may run beside it), waits for the
client, finalizes the capture and takes the project down. The capture
``captures/grid/<protocol>-<server>-<client>.pcapng`` is judged by the protocol invariants plus the scenario
expectations that apply to what the client asked for (lab/peers.py ``expectations``); a cell whose peer breaks a
rule on purpose (a fault peer) holds only if the invariant naming that rule is violated. A cell that cannot exist
is listed with the reason. Out: ``grid.json`` and ``grid.html`` (a matrix per protocol, a page per cell).

Exit: 0 every cell ran and was judged and every fault peer was caught (a third-party peer that breaks a rule is a
measurement, shown as ``fail``, not an error of the grid); 1 a cell could not run or judge, or a fault was missed;
2 bad arguments.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from analysis.errors import InputError
from analysis.findings import Status
from analysis.pipeline import analyse_and_draw, analyse_and_judge
from analysis.render import gridpage, htmlpage

from . import peers
from .secrets import inject_secrets
from .via import CARRIES as VIA_CARRIES
from .via import PROXIES

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "duplexlab-grid"
NETWORK = {"name": "duplexlab-grid", "driver": "bridge", "internal": True,
           "driver_opts": {"com.docker.network.bridge.name": "dxgrid0"},
           "ipam": {"config": [{"subnet": "172.31.232.0/24"}]}}
CLIENT_TIMEOUT = 45
QUIET_AFTER_CLIENT = 1.0  # libpcap may still hold the last packets (TOOLING.md): wait before stopping the capture
LINKS = {"slow": "tbf rate 2mbit burst 16kb latency 200ms"}
NETEM = {"delay": "netem delay 100ms", "loss": "netem loss 5%"}
AXES = {"protocols": list(peers.PROTOCOLS), "servers": list(peers.SERVERS), "clients": list(peers.CLIENTS)}
FIGURE_KEYS = ("unprompted_server_messages", "push_promises", "server_messages", "sse_events", "http3")


def cell_id(protocol: str, server: str, client: str, via: str = "") -> str:
    return "-".join(p for p in (protocol, server, client, via) if p)


def all_cells() -> list[tuple[str, str, str]]:
    """Every protocol × server × client, in a fixed order (the shard split depends on it)."""
    return [(p, s, c) for p in peers.PROTOCOLS for s in peers.SERVERS for c in peers.CLIENTS]


def parse_cells(text: str) -> list[tuple[str, str, str]]:
    """'websocket/node/chromium sse/aiohttp/node' -> the cells; ValueError with one sentence on a bad one."""
    out = []
    for item in text.split():
        parts = item.split("/")
        if len(parts) != 3:
            raise ValueError(f"a cell is PROTOCOL/SERVER/CLIENT, not {item!r}.")
        p, s, c = parts
        for value, known, what in ((p, peers.PROTOCOLS, "protocol"), (s, peers.SERVERS, "server"),
                                   (c, peers.CLIENTS, "client")):
            if value not in known:
                raise ValueError(f"the grid has no {what} {value!r}; choose from {' '.join(known)}.")
        out.append((p, s, c))
    return out


def shard(cells: list, text: str) -> list:
    """The I-th of N slices (1-based) of ``cells``: every N-th cell, so each slice mixes protocols and peers."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"SHARD is I/N with 1 <= I <= N, not {text!r}.") from None
    if not 1 <= i <= n:
        raise ValueError(f"SHARD is I/N with 1 <= I <= N, not {text!r}.")
    return cells[i - 1::n]


# -- one cell --------------------------------------------------------------------------------------------------


def compose_file(protocol: str, server: str, client: str, name: str, link: str = "", out: Path | None = None,
                 via: str = "") -> dict:
    """The compose project of one cell (JSON is YAML). With ``via``, the client talks to that proxy (the lab's
    services/proxies), which talks to the server; the capture sits in the proxy's namespace and holds both legs."""
    out = (out or ROOT / "captures" / "grid").resolve()
    srv = peers.server_run(protocol, server, client)
    if via:
        proxy_port = VIA_CARRIES[via][protocol]
        cli = peers.client_run(protocol, server, client, proxy_port, host="grid-proxy")
    else:
        cli = peers.client_run(protocol, server, client, srv.port)
    listening = f":{srv.port:04X} [0-9A-F]+:0000 0A"
    tables = "/proc/net/tcp /proc/net/tcp6"
    if srv.udp:  # a bound UDP socket (QUIC): no LISTEN state
        listening, tables = f":{srv.port:04X} ", "/proc/net/udp /proc/net/udp6"
    hardened = {"read_only": True, "tmpfs": ["/tmp"], "init": True, "cap_drop": ["ALL"],
                "security_opt": ["no-new-privileges:true"]}
    services: dict[str, dict] = {
        "server": {**hardened, "image": srv.image, "command": list(srv.command), "environment": srv.env,
                   "networks": {"grid": {"aliases": ["grid-server", *srv.aliases]}}, "sysctls": srv.sysctls,
                   # Listening, read from /proc: a probe connection would land in the capture.
                   "healthcheck": {"test": ["CMD-SHELL", f"grep -qsE '{listening}' {tables}"],
                                   "interval": "500ms", "retries": 60}},
        "capture": {"image": peers.CAPTURE_IMAGE, "user": f"{_uid()}:{_gid()}", "cap_drop": ["ALL"],
                    "cap_add": ["NET_RAW", "NET_ADMIN"], "read_only": True, "network_mode": "service:server",
                    "volumes": [f"{out}:/captures"], "environment": {"NAME": name},
                    "stop_signal": "SIGINT", "stop_grace_period": "20s",
                    "depends_on": {"server": {"condition": "service_healthy"}},
                    "healthcheck": {"test": ["CMD-SHELL", f"test -s /captures/{name}.pcapng.part"],
                                    "interval": "500ms", "retries": 60}},
        # Compose interpolates $VAR in a command: a shell line's own variables are written $$VAR.
        "client": {**hardened, "image": cli.image, "command": [a.replace("$", "$$") for a in cli.command],
                   "networks": ["grid"],
                   "environment": cli.env, "restart": "no"},
    }
    if via:
        services["proxy"] = {
            **hardened, "image": peers.PROXIES_IMAGE, "networks": {"grid": {"aliases": ["grid-proxy"]}},
            "environment": {"VIA": via, "UPSTREAM": f"grid-server:{srv.port}"},
            "depends_on": {"server": {"condition": "service_healthy"}},
            "healthcheck": {"test": ["CMD-SHELL", f"grep -qE ':{proxy_port:04X} [0-9A-F]+:0000 0A' /proc/net/tcp "
                                     "/proc/net/tcp6"], "interval": "500ms", "retries": 60}}
        services["capture"]["network_mode"] = "service:proxy"
        services["capture"]["depends_on"] = {"proxy": {"condition": "service_healthy"}}
        services["client"]["environment"] = {**cli.env, "VIA": via}
    if protocol == "http3" and client == "chromium":  # QUIC in Chromium ignores --ignore-certificate-errors
        services["client"]["environment"] = {**cli.env, "SPKI": lab_spki()}
        cli = peers.Run(cli.image, cli.command, services["client"]["environment"])
    if peers.keyed(protocol, client):
        services["client"]["environment"] = {**cli.env, "SSLKEYLOGFILE": f"/keys/{name}.keys"}
        services["client"]["volumes"] = [f"{out}/.keys:/keys"]
        services["client"]["shm_size"] = "256m"
    if link:
        # tc in the server's namespace, from a one-shot container that alone holds NET_ADMIN.
        services["shaper"] = {"image": peers.PEERS_IMAGE, "network_mode": "service:server", "user": "0:0",
                              "cap_drop": ["ALL"], "cap_add": ["NET_ADMIN"], "restart": "no",
                              "command": ["sh", "-c",
                                          f"tc qdisc add dev eth0 root {LINKS[link]} && tc qdisc show dev eth0"]}
    return {"name": PROJECT, "services": services, "networks": {"grid": NETWORK}}


@functools.cache
def lab_spki() -> str:
    """The base64 SHA-256 of the lab certificate's public key (--ignore-certificate-errors-spki-list), read from the
    lab's image (its certificate is made when the image is built)."""
    line = ("openssl x509 -in /opt/lab-tls/cert.pem -pubkey -noout | openssl pkey -pubin -outform der "
            "| openssl dgst -sha256 -binary | base64")
    proc = subprocess.run(["docker", "run", "--rm", "--network", "none", peers.LAB_IMAGE, "sh", "-c", line],
                          text=True, capture_output=True, timeout=60)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"the lab certificate's key could not be read: {proc.stderr.strip()[-200:]}")
    return proc.stdout.strip()


def _uid() -> int:
    return int(os.environ.get("SUDO_UID", os.getuid()))


def _gid() -> int:
    return int(os.environ.get("SUDO_GID", os.getgid()))


def compose(spec: Path, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, COMPOSE_BAKE="false")
    proc = subprocess.run(["docker", "compose", "-p", PROJECT, "--project-directory", str(ROOT), "-f", str(spec),
                           *args], cwd=ROOT, env=env, text=True, capture_output=True, timeout=timeout)
    if check and proc.returncode != 0:
        tail = (proc.stderr or "").strip().splitlines()[-4:]
        raise RuntimeError(f"docker compose {args[0]} failed: " + " / ".join(tail))
    return proc


def run_cell(protocol: str, server: str, client: str, out: Path, link: str = "", via: str = "") -> dict:
    """Run one cell and judge its capture: the cell's record for grid.json."""
    name = cell_id(protocol, server, client, via)
    t0 = time.monotonic()
    record = _record(protocol, server, client, link, via)
    cap = out / f"{name}.pcapng"
    keys = out / ".keys" / f"{name}.keys"
    for stale in (cap, out / f"{name}.pcapng.part", keys):
        stale.unlink(missing_ok=True)
    (out / f".{name}.comment").write_text(f"duplexlab grid cell {protocol}/{server}/{client}: "
                                          f"{peers.SERVERS[server].implementation} serving, "
                                          f"{peers.CLIENTS[client].implementation} asking.")
    spec = out / ".cell.compose.json"
    spec.write_text(json.dumps(compose_file(protocol, server, client, name, link, out, via), indent=1))
    client_code, client_log = -1, ""
    try:
        compose(spec, "down", "--remove-orphans", "--timeout", "5", check=False)
        compose(spec, "up", "--detach", "--wait", "server", *(["proxy"] if via else []), "capture")
        if link:  # the qdisc as the kernel reports it, into the record: proof the link was shaped
            record["link_qdisc"] = compose(spec, "run", "--rm", "--no-deps", "-T", "shaper").stdout.strip()
        try:
            proc = compose(spec, "run", "--rm", "--no-deps", "-T", "client", timeout=CLIENT_TIMEOUT, check=False)
            client_code, client_log = proc.returncode, (proc.stdout + proc.stderr)
        except subprocess.TimeoutExpired:
            client_code, client_log = -1, f"the client did not finish within {CLIENT_TIMEOUT} s"
        time.sleep(QUIET_AFTER_CLIENT)
        compose(spec, "stop", "--timeout", "20", "capture")
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        record.update(verdict="error", error=str(exc))
    finally:
        compose(spec, "down", "--remove-orphans", "--timeout", "5", check=False)
        (out / f".{name}.comment").unlink(missing_ok=True)
    record["client_exit"] = client_code
    record["client_log"] = client_log.strip().splitlines()[-6:]
    if cap.exists() and peers.keyed(protocol, client):
        if keys.exists():
            cap.write_bytes(inject_secrets(cap.read_bytes(), keys.read_bytes()))
            keys.unlink()
        else:
            record["note"] = "the client wrote no TLS session keys: the capture cannot be read"
    if record.get("verdict") != "error":
        judge_cell(record, cap, out)
    record["seconds"] = round(time.monotonic() - t0, 1)
    return record


def _record(protocol: str, server: str, client: str, link: str, via: str = "") -> dict:
    return {"cell": cell_id(protocol, server, client, via), "protocol": protocol, "server": server, "client": client,
            "via": via, "link": link, "status": "ran", "verdict": "", "fault": peers.fault(server, client, protocol),
            "findings": [], "figure": {}, "figure_text": "", "capture": "", "page": ""}


def judge_cell(record: dict, cap: Path, out: Path) -> None:
    """The protocol invariants and the expectations that apply, from the capture: verdict, findings, figure."""
    protocol, client = record["protocol"], record["client"]
    judged = peers.JUDGED_AS.get(protocol, protocol)
    try:
        result, lads = analyse_and_draw(str(cap), judged)
        _, judge = analyse_and_judge(str(cap), judged)
    except InputError as exc:
        record.update(verdict="error", error=f"capture: {exc}")
        return
    # Through a proxy the path findings replace the scenario's expectations, as in make lab VIA= (lab/run.py).
    for eid, limits in () if record.get("via") else peers.expectations(protocol, client, record["server"]):
        result.findings.append(judge.expect(eid, **limits))
    result.server = f"{record['server']} ({peers.SERVERS[record['server']].implementation})"
    record["findings"] = [{"invariant": f.invariant, "status": f.status.value, "kind": f.kind, "detail": f.detail,
                           "frames": list(f.frames[:8])} for f in result.findings]
    record["measured_verdict"] = result.verdict
    violated = {f.invariant for f in result.findings if f.status is Status.VIOLATED}
    if record["fault"]:
        record["caught"] = record["fault"] in violated
        record["verdict"] = "caught" if record["caught"] else "missed"
    else:
        record["verdict"] = result.verdict
    m = result.measures
    record["figure"] = {k: m[k] for k in FIGURE_KEYS if k in m}
    record["figure"]["connections"] = m.get("connections", 0)
    record["figure_text"] = figure_text(protocol, m)
    if record.get("via") and (path := m.get("path")) and path.get("added_delay_ms"):
        record["figure"]["added_delay_ms"] = path["added_delay_ms"]
        record["figure_text"] += f", +{path['added_delay_ms']['median']:g} ms median via {record['via']}"
    record["capture"] = cap.name
    page = out / f"{cap.stem}.html"
    page.write_text(htmlpage.render([(result, lads)], f"grid cell {record['cell']}"), encoding="utf-8")
    record["page"] = page.name
    cap_result = result.measures.get("capture", {})
    record["figure"]["frames"] = cap_result.get("frames", 0)


def figure_text(protocol: str, m: dict) -> str:
    """The figure that matters for the protocol, in a few words."""
    if protocol == "h2push":
        return f"{m.get('push_promises', 0)} pushes"
    if protocol == "http3":  # the streams the server opened unasked (control, QPACK, push), and requests
        opened = (m.get("http3") or {}).get("streams_opened", {}).get("server", {})
        kinds = {"control": opened.get("control", 0), "QPACK": opened.get("qpack-encoder", 0)
                 + opened.get("qpack-decoder", 0), "push": opened.get("push", 0)}
        return (f"{m.get('requests', 0)} req / {m.get('connections', 0)} conn; server streams: "
                + ", ".join(f"{k} {n}" for k, n in kinds.items()) + f"; {m.get('unprompted_server_messages', 0)} "
                "unprompted")
    if protocol in ("http1", "http2", "http1-duplex"):
        extra = f", overlap {m.get('overlap', 0)}" if protocol == "http1-duplex" else ""
        return f"{m.get('requests', 0)} req / {m.get('connections', 0)} conn{extra}"
    if protocol == "longpoll":
        holds = m.get("hold_times_s") or []
        return f"{len(holds)} polls held ≥ {min(holds):.2f} s" if holds else "0 polls"
    return f"{m.get('unprompted_server_messages', 0)} unprompted"


def absent_record(protocol: str, server: str, client: str, why: str, link: str = "", via: str = "") -> dict:
    record = _record(protocol, server, client, link, via)
    record.update(status="cannot-exist", verdict="n/a", reason=why)
    return record


# -- the grid ---------------------------------------------------------------------------------------------------


def build_images(say, via: str = "") -> None:
    """The grid's images, one at a time (the machine has two cores): peers, the lab's peers, the capture, and with
    VIA the lab's proxies."""
    images = [(peers.PEERS_IMAGE, "grid/Dockerfile"), (peers.LAB_IMAGE, "services/Dockerfile"),
              (peers.CAPTURE_IMAGE, "capture/Dockerfile")]
    for tag, dockerfile in images + ([(peers.PROXIES_IMAGE, "services/proxies/Dockerfile")] if via else []):
        say(f"building {tag} (cached after the first run)")
        proc = subprocess.run(["docker", "build", "-q", "-t", tag, "-f", dockerfile, "."], cwd=ROOT, text=True,
                              capture_output=True, env=dict(os.environ, DOCKER_BUILDKIT="0"))
        if proc.returncode != 0:
            raise RuntimeError(f"docker build of {tag} failed: " + " / ".join(proc.stderr.strip().splitlines()[-4:]))


def refuse_link(link: str) -> str | None:
    """One sentence when LINK cannot be had on this kernel (netem), else None."""
    if not link or link in LINKS:
        return None
    if link not in NETEM:
        return f"LINK={link} is not a link the grid has; choose slow (tbf), or delay/loss where the kernel has netem."
    probe = subprocess.run(["docker", "run", "--rm", "--network", "none", "--cap-drop", "ALL", "--cap-add", "NET_ADMIN",
                            "--user", "0:0", peers.PEERS_IMAGE, "tc", "qdisc", "add", "dev", "lo", "root",
                            *NETEM[link].split()], text=True, capture_output=True)
    if probe.returncode != 0:
        why = (probe.stderr.strip().splitlines() or ["tc failed"])[-1]
        return (f"LINK={link} needs tc's netem qdisc, which this kernel does not have ({why}); LINK=slow (tbf) "
                "works here.")
    return f"LINK={link}: netem exists on this kernel, but the grid does not shape with it yet."


def run(cells: list[tuple[str, str, str]], out: Path, link: str = "", tag: str = "", build: bool = True,
        via: str = "") -> int:
    t0 = time.monotonic()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - t0:6.1f}s] {text}", flush=True)

    out.mkdir(parents=True, exist_ok=True)
    (out / ".keys").mkdir(exist_ok=True)
    os.chmod(out / ".keys", 0o1777)  # the peers run as their own unprivileged user
    if build:
        build_images(say, via)
    records = []
    for protocol, server, client in cells:
        why = peers.absent(protocol, server, client) or (via and peers.via_absent(protocol, client, via))
        if why:
            records.append(absent_record(protocol, server, client, why, link, via))
            continue
        say(f"cell {protocol}/{server}/{client}{' LINK=' + link if link else ''}{' VIA=' + via if via else ''}")
        record = run_cell(protocol, server, client, out, link, via)
        if record["verdict"] in ("fail", "inconclusive", "missed", "error") and record["client_exit"] != 0:
            record["client_failed"] = True
        say(f"  {record['verdict']} ({record['figure_text'] or record.get('error', '')}) in {record['seconds']} s")
        records.append(record)
    doc = gridpage.document(records, AXES, {"link": link, "via": via, "shard": tag})
    name = f"grid{'.' + tag.replace('/', 'of') if tag else ''}"
    (out / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
    (out / f"{name}.html").write_text(gridpage.render(doc), encoding="utf-8")
    ran = [r for r in records if r["status"] == "ran"]
    good = [r for r in ran if r["verdict"] in ("pass", "caught")]
    broken = [r["cell"] for r in ran if r["verdict"] in ("error", "missed")]
    say(f"{len(ran)} cells ran ({len(good)} hold, {len(ran) - len(good)} do not), "
        f"{len(records) - len(ran)} cannot exist; {out / name}.json and .html")
    for cell in broken:
        print(f"grid: cell {cell} could not be judged or its fault was missed", file=sys.stderr)
    return 1 if broken else 0


def markdown(doc: dict) -> str:
    """The README's grid table: a row per protocol/server that has cells, a column per client."""
    ran = [x for x in doc["cells"] if x["status"] == "ran"]
    clients = [c for c in doc["axes"]["clients"] if any(x["client"] == c for x in ran)]
    by = {(c["protocol"], c["server"], c["client"]): c for c in doc["cells"]}
    lines = ["| protocol/server | " + " | ".join(clients) + " |", "| --- |" + " --- |" * len(clients)]
    for p in doc["axes"]["protocols"]:
        for s in doc["axes"]["servers"]:
            row = [by.get((p, s, c)) for c in clients]
            if not any(r and r["status"] == "ran" for r in row):
                continue
            cells = [f"{r['verdict']} ({r['figure_text']})" if r and r["status"] == "ran" else "—" for r in row]
            lines.append(f"| `{p}/{s}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def rejudge(out: Path) -> int:
    """Judge the captures of grid.json again (after a change to the analysis or the expectations), without Docker."""
    path = out / "grid.json"
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        print(f"error: no grid to judge again at {path}: {exc}.", file=sys.stderr)
        return 2
    for record in doc["cells"]:
        if record["status"] == "ran" and record.get("capture"):
            judge_cell(record, out / record["capture"], out)
    doc = gridpage.document(doc["cells"], AXES, doc["settings"])
    path.write_text(json.dumps(doc, indent=1) + "\n")
    (out / "grid.html").write_text(gridpage.render(doc), encoding="utf-8")
    print(f"judged {doc['summary']['ran']} cells again: {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    opts: dict[str, str] = {}
    it = iter(args)
    for a in it:
        if a in ("--cells", "--shard", "--link", "--out", "--via"):
            opts[a[2:]] = next(it, "")
        elif a in ("--no-build", "--rejudge", "--markdown"):
            opts[a[2:]] = "1"
        else:
            print(f"error: unknown argument {a!r}; see python -m lab.grid --help in the module docstring.",
                  file=sys.stderr)
            return 2
    try:
        cells = parse_cells(opts["cells"]) if opts.get("cells") else all_cells()
        if opts.get("shard"):
            cells = shard(cells, opts["shard"])
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    link, via = opts.get("link", ""), opts.get("via", "")
    if via and via not in PROXIES:
        print(f"error: VIA={via} is not a proxy the lab has; choose one of {', '.join(PROXIES)}.", file=sys.stderr)
        return 2
    if link and link not in LINKS:
        why = refuse_link(link)
        if why:
            print(f"error: {why}", file=sys.stderr)
            return 2
    # A shaped link's cells go beside the direct ones (captures/grid/link-slow/), not over them.
    sub = "-".join(x for x in (f"link-{link}" if link else "", f"via-{via}" if via else "") if x)
    out = Path(opts.get("out") or ROOT / "captures" / "grid" / sub)
    if opts.get("rejudge"):
        return rejudge(out)
    if opts.get("markdown"):
        print(markdown(json.loads((out / "grid.json").read_text())))
        return 0
    try:
        return run(cells, out, link, opts.get("shard", ""), build=not opts.get("no-build"), via=via)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
