"""Checking files on a Dask cluster: ``check --cluster ADDRESS`` (an edge, like ``-j``).

``ADDRESS`` is a running scheduler (``tcp://host:8786``: dask-kubernetes, dask-jobqueue on
Slurm, ``dask ssh``, or ``dask scheduler`` by hand) or ``local[:N]``, which starts a
LocalCluster of N single-threaded worker processes on this machine (default: the cores).
Each file is one task, run by a worker with the same function ``-j`` runs in a process; a big
one is judged in parts by flow, one task a part, and the parts' results merge into the file's
(``spread.py``, as with ``-j``). The results come back in file order, so the table, the JSON and the exit code
are those of ``-j 1``. Workers read the files by their paths: the files (and a ``--keylog``) must be where
every worker sees them (shared storage), as on any cluster that runs file jobs.

Dask is optional (``pip install 'duplexlab[cluster]'``); without it ``--cluster`` is one
sentence and exit 2.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from . import spread
from .errors import InputError

CONNECT_TIMEOUT = "10s"


def parse_address(text: str) -> tuple[str, int | None]:
    """("local", N) or ("remote", None) with the address kept by the caller; InputError on nonsense."""
    if text == "local" or text.startswith("local:"):
        n = text.partition(":")[2]
        if n and (not n.isdigit() or int(n) < 1):
            raise InputError(f"--cluster local:N takes a number of workers (1 or more), not {n!r}.")
        return "local", int(n) if n else (os.cpu_count() or 1)
    if "://" not in text:
        raise InputError(f"--cluster takes a scheduler address such as tcp://host:8786, or local[:N], not {text!r}.")
    return "remote", None


def run(address: str, attempt: Callable, calls: Sequence[tuple], parts: int = 1) -> list:
    """``attempt(call)`` for every call, on the cluster at ``address``; the outcomes in the calls' order. A call
    of ``analyse`` on a big file (``parts``: 0 automatic, 1 never, N) is judged in parts by flow (``parts.py``)."""
    kind, workers = parse_address(address)
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError("--cluster needs Dask's distributed scheduler, which is not installed: "
                         "pip install 'duplexlab[cluster]'.") from None
    cluster = None
    try:
        if kind == "local":
            # On loopback only, the scheduler and its HTTP endpoint (on any free port: no clash, no warning).
            import dask

            # Without the workers' statistical profiler: it samples the running check every 10 ms, which cost
            # a third more time on a 10^7-packet capture (benchmarks/cluster.py).
            with dask.config.set({"distributed.worker.profile.enabled": False}):
                cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address="127.0.0.1:0", silence_logs=50)
            client = Client(cluster)
        else:
            client = Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        raise InputError(f"no Dask scheduler answers at {address}: {exc}.") from None
    try:
        slots = workers if kind == "local" else max(1, sum(client.nthreads().values()))
        # pure=False: the same file checked twice is two tasks (a file may change between runs).
        return spread.run(lambda fn, *args: client.submit(fn, *args, pure=False), attempt, calls,
                          spread.plan(calls, parts, slots))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

