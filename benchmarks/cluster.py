"""Benchmark of ``check --cluster``: one big capture split by flow over one worker and over two, and what the
cluster costs on a small capture.

Usage: python benchmarks/cluster.py [PACKETS] [--repeat N]   (default 10000000 packets of the websocket mix)

Prints, each command in its own process, best of --repeat runs, taking turns:
  scaling   check --cluster local:1 FILE   against   check --cluster local:2 FILE   on a PACKETS-packet capture
            (a file of 64 MiB or more is split into as many parts as the cluster has workers; target >= 1.6x on
            2 cores), beside check -j 1 FILE (one process, no cluster) as the reference and check -j 2 FILE (the
            same two parts in a process pool, no Dask)
  overhead  check FILE   against   check --cluster local:2 FILE   on a 10^4-packet capture (start-up of the
            LocalCluster and the round trips)
  memory    peak RSS of one part (of two) judged alone, beside the whole capture judged in one process
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import CHECK, OURS, capture, measure  # noqa: E402

USAGE = "usage: python benchmarks/cluster.py [PACKETS] [--repeat N]"


def best(commands: list[list[str]], repeat: int) -> list[tuple[float, float]]:
    runs = [[measure(cmd) for cmd in commands] for _ in range(repeat)]
    return [(min(r[i][0] for r in runs), max(r[i][1] for r in runs)) for i in range(len(commands))]


def scaling(n: int, repeat: int) -> None:
    path = str(capture(n, "websocket"))
    (ref, _), (pool, _), (one, _), (two, _) = best([[*OURS, path], [*CHECK, "-j", "2", path],
                                                    [*OURS, "--cluster", "local:1", path],
                                                    [*OURS, "--cluster", "local:2", path]], repeat)
    print(f"cluster scaling: one capture of {n} packets ({Path(path).stat().st_size / 1e6:.0f} MB): -j 1 {ref:.2f} s, "
          f"-j 2 {pool:.2f} s (2 parts in the process pool: {ref / pool:.2f}x), --cluster local:1 {one:.2f} s, "
          f"--cluster local:2 {two:.2f} s (2 parts): speed-up {one / two:.2f}x (target >= 1.6x), {ref / two:.2f}x "
          "against one process", flush=True)


def overhead(repeat: int) -> None:
    path = str(capture(10_000, "websocket"))
    (plain, _), (spread, _) = best([[*OURS, path], [*OURS, "--cluster", "local:2", path]], repeat)
    print(f"cluster overhead: a capture of 10^4 packets: check {plain:.2f} s, --cluster local:2 {spread:.2f} s "
          f"(+{spread - plain:.2f} s: starting the LocalCluster and its round trips)", flush=True)


def part_memory(n: int) -> None:
    path = str(capture(n, "websocket"))
    part = [sys.executable, "-c", f"from analysis.parts import analyse_part; analyse_part({path!r}, None, None, 0, 2)"]
    (_, whole_mb), (_, part_mb) = best([[*OURS, path], part], 1)
    print(f"cluster memory: one part of two of {n} packets: peak RSS {part_mb:.0f} MB (the whole in one process: "
          f"{whole_mb:.0f} MB)", flush=True)


def main(args: list[str]) -> int:
    repeat = 1
    if "--repeat" in args:
        i = args.index("--repeat")
        if i + 1 >= len(args) or not args[i + 1].isdigit():
            print(USAGE, file=sys.stderr)
            return 2
        repeat = int(args[i + 1])
        del args[i:i + 2]
    if len(args) > 1 or (args and not args[0].isdigit()):
        print(USAGE, file=sys.stderr)
        return 2
    n = int(args[0]) if args else 10_000_000
    overhead(max(repeat, 3))
    scaling(n, repeat)
    part_memory(n)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
