"""check --cluster: files spread over Dask workers give exactly what -j 1 gives.

On a LocalCluster of two worker processes, and on workers that live in their own network
namespaces (joined to this one by veth pairs, standing in for hosts) and reach the scheduler
over TCP; each file whole, and each split by flow into two parts judged by different workers.
Everything is bounded in time and the namespaces are removed afterwards; the only traffic is
between this namespace and the ones the test made.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FILES = ("ws-arkime.pcap", "h2c-continuation-suricata.pcap", "sse-servertime-flask-susam.pcap",
         "tls12-http1-keylog-small-zeek.pcap", "grpc-server-streaming-packt.pcapng")


def _check(*args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis", "check", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)


@pytest.fixture(scope="module")
def files(corpus, tmp_path_factory) -> list[str]:
    bad = tmp_path_factory.mktemp("cluster") / "not-a-capture.pcap"
    bad.write_bytes(b"hello, not a capture at all")
    return [str(corpus / n) for n in FILES[:3]] + [str(bad)] + [str(corpus / n) for n in FILES[3:]]


def _same_as_one_process(files: list[str], cluster: str) -> None:
    # --parts 2: every capture is also split by flow over the workers, and its parts merged (parts.py)
    for flags, split in (((), ()), (("--json",), ()), (("--json",), ("--parts", "2"))):
        one = _check("-j", "1", *flags, *files)
        spread = _check("--cluster", cluster, *split, *flags, *files)
        # the damaged file says so, the rest are judged; a failure shows what the spread run said
        assert spread.returncode == one.returncode == 2, spread.stderr
        assert spread.stdout == one.stdout, spread.stderr
        assert [line for line in spread.stderr.splitlines() if line.startswith(("error:", "warning:"))] == [
            line for line in one.stderr.splitlines() if line.startswith(("error:", "warning:"))]


def test_a_local_cluster_of_two_workers_gives_what_one_process_gives(files):
    _same_as_one_process(files, "local:2")


def test_without_dask_cluster_is_one_sentence_and_exit_two(corpus):
    code = ("import sys; sys.modules['distributed'] = None; from analysis.cli import main; "
            f"sys.exit(main(['check', '--cluster', 'local:2', {str(corpus / FILES[0])!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == ("error: --cluster needs Dask's distributed scheduler, which is not installed: "
                                   "pip install 'duplexlab[cluster]'.")


@pytest.mark.parametrize(("address", "said"), [("local:x", "takes a number of workers"),
                                                ("somewhere", "takes a scheduler address"),
                                                ("tcp://127.0.0.1:{port}", "no Dask scheduler answers")])
def test_a_wrong_address_is_one_sentence_and_exit_two(corpus, address, said):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = _check("--cluster", address.format(port=port), str(corpus / FILES[0]), timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert said in proc.stderr and proc.stderr.strip().count("\n") == 0, proc.stderr


# -- workers in network namespaces -----------------------------------------------------------------------------

# Names and addresses of this run's own: two runs of the suite on one host (two CI jobs, a developer beside CI) must
# not take each other's namespaces, veth pairs or addresses (they did: "ip netns add" failed, or the scheduler
# another run tore down refused its client).
_RUN = os.getpid() % 4096
_NS = (f"dlxw{_RUN}x1", f"dlxw{_RUN}x2")
_VETH = f"dx{_RUN}v{{n}}{{end}}"  # at most 10 characters (an interface name takes 15)


def _addr(n: int, host: int) -> str:
    """Host 1 (this namespace's end) or 2 (the namespace's) of namespace n's /30, on the veth pair this test makes
    and removes."""
    return f"10.{224 + _RUN // 256}.{_RUN % 256}.{4 * n + host}"


def _ip(*args: str, ns: str | None = None) -> None:
    cmd = ["ip", *(("netns", "exec", ns, "ip") if ns else ()), *args]
    subprocess.run(cmd, check=True, capture_output=True, timeout=30)


def _teardown() -> None:
    for n, ns in enumerate(_NS, 1):
        subprocess.run(["ip", "link", "del", _VETH.format(n=n, end="a")], capture_output=True, timeout=30)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


def _wait_for(port: int, host: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
            return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on {host}:{port} after {seconds} s")


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None,
                    reason="network namespaces need root and iproute2")
def test_workers_in_their_own_network_namespaces_reach_the_scheduler_over_tcp(files):
    _teardown()
    procs: list[subprocess.Popen] = []
    dask = str(Path(sys.executable).parent / "dask")
    scheduler_ip = _addr(1, 1)
    try:
        for n, ns in enumerate(_NS, 1):
            _ip("netns", "add", ns)
            a, b = _VETH.format(n=n, end="a"), _VETH.format(n=n, end="b")
            _ip("link", "add", a, "type", "veth", "peer", "name", b)
            _ip("link", "set", b, "netns", ns)
            _ip("addr", "add", _addr(n, 1) + "/30", "dev", a)
            _ip("link", "set", a, "up")
            _ip("addr", "add", _addr(n, 2) + "/30", "dev", b, ns=ns)
            _ip("link", "set", b, "up", ns=ns)
            _ip("link", "set", "lo", "up", ns=ns)
            _ip("route", "add", "default", "via", _addr(n, 1), ns=ns)
        with socket.socket() as s:
            s.bind((scheduler_ip, 0))
            port = s.getsockname()[1]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
        procs.append(subprocess.Popen([dask, "scheduler", "--host", scheduler_ip, "--port", str(port),
                                       "--no-dashboard"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        _wait_for(port, scheduler_ip, 30)
        for n, ns in enumerate(_NS, 1):
            procs.append(subprocess.Popen(["ip", "netns", "exec", ns, dask, "worker", f"tcp://{scheduler_ip}:{port}",
                                           "--host", _addr(n, 2), "--nthreads", "1", "--no-dashboard",
                                           "--name", ns], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
        _wait_for_workers(f"tcp://{scheduler_ip}:{port}", len(_NS), 60)
        _same_as_one_process(files, f"tcp://{scheduler_ip}:{port}")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        _teardown()


def _wait_for_workers(address: str, n: int, seconds: float) -> None:
    from distributed import Client

    with Client(address, timeout="20s") as client:
        client.wait_for_workers(n, timeout=seconds)
        hosts = {w["host"] for w in client.scheduler_info()["workers"].values()}
    assert hosts == {_addr(i, 2) for i in range(1, n + 1)}, hosts
