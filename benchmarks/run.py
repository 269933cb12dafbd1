"""Benchmark: duplexlab's check against a plain tshark field-extraction pass over the same file.

Usage: python benchmarks/run.py [PACKETS ...] [--memory PACKETS]
       (default: 10000 100000 1000000, then --memory 10000000)

For each size it writes a synthetic capture (benchmarks/make_capture.py), then runs,
each in its own process: `python -m analysis check` and
`tshark -T fields -e frame.number -e tcp.stream -e http.request.method -e websocket.opcode`.
It prints wall time and peak memory (max RSS) of both and the ratio ours/tshark.
A ratio below 1.0 means our check is faster than tshark's own single pass.

Then the memory bound: our check alone on a capture of ``--memory`` packets (10^7 by
default; tshark is not run at that size), with its peak RSS against the 300 MB budget.
The capture's 72 connections stay open to the end, so nothing is released early: the
figure shows that memory follows the open connections, not the packets.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE))

from make_capture import write  # noqa: E402


def measure(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one command, its output discarded."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"{cmd[0]} failed with exit code {code}")
    return wall, usage.ru_maxrss / 1024


MEMORY_BUDGET_MB = 300


def memory(n: int, ours_cmd: list[str]) -> None:
    path = OUT / f"bench-{n}.pcap"
    if not path.exists():
        write(n, str(path))
    secs, mb = measure([*ours_cmd, str(path)])
    print(f"memory bound: {n} packets ({path.stat().st_size / 1e6:.0f} MB file, 72 connections open throughout): "
          f"ours {secs:.1f} s, peak RSS {mb:.0f} MB (budget {MEMORY_BUDGET_MB} MB: "
          f"{'within' if mb <= MEMORY_BUDGET_MB else 'OVER'})", flush=True)


def main(sizes: list[int], memory_size: int | None) -> int:
    if shutil.which("tshark") is None:
        print("tshark is not installed: run `make test` or `lab/bootstrap.sh tools` first.", file=sys.stderr)
        return 2
    OUT.mkdir(exist_ok=True)
    ours_cmd = [sys.executable, "-m", "analysis", "check", "--quiet", "--protocol", "websocket"]
    tshark_cmd = ["tshark", "-n", "-T", "fields", "-e", "frame.number", "-e", "tcp.stream",
                  "-e", "http.request.method", "-e", "websocket.opcode", "-r"]
    print(f"{'packets':>9} {'file MB':>8} {'ours s':>8} {'ours MB':>8} {'tshark s':>9} {'tshark MB':>10} "
          f"{'time ratio':>11} {'pkts/s ours':>12}")
    for n in sizes:
        path = OUT / f"bench-{n}.pcap"
        if not path.exists():
            write(n, str(path))
        ours_s, ours_mb = measure([*ours_cmd, str(path)])
        tshark_s, tshark_mb = measure([*tshark_cmd, str(path)])
        size_mb = path.stat().st_size / 1e6
        print(f"{n:>9} {size_mb:>8.1f} {ours_s:>8.2f} {ours_mb:>8.0f} {tshark_s:>9.2f} {tshark_mb:>10.0f} "
              f"{ours_s / tshark_s:>11.2f} {n / ours_s:>12.0f}", flush=True)
    if memory_size:
        memory(memory_size, ours_cmd)
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    mem: int | None = 10_000_000
    if "--memory" in args:
        i = args.index("--memory")
        value = args[i + 1] if i + 1 < len(args) else ""
        if not value.isdigit():
            sys.exit("usage: python benchmarks/run.py [PACKETS ...] [--memory PACKETS]  (--memory 0 skips it)")
        mem = int(value) or None
        del args[i:i + 2]
    if any(not a.isdigit() for a in args):
        sys.exit("usage: python benchmarks/run.py [PACKETS ...] [--memory PACKETS]")
    sys.exit(main([int(a) for a in args] or [10_000, 100_000, 1_000_000], mem))
