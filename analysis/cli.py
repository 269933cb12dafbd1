"""Command line: ``duplexlab`` (or ``python -m analysis`` from a clone) with three subcommands.

  check FILE... [--protocol NAME] [--scenario] [--json] [--junit OUT.xml] [--annotate OUT.pcapng] [-v]
  report FILE... -o OUT.html [--mermaid-dir DIR]
  capture [--port PORT] [--host ADDR]... [--filter BPF] [--interface IFACE] [-o FILE.pcapng] [check flags] -- CMD
  grid merge GRID.json... -o grid.json

FILE may be ``-`` (standard input), a pipe (``<(zcat x.pcap.gz)``, ``/dev/stdin``) or a FIFO: read as a stream.

Exit codes: 0 every invariant holds; 1 at least one violated or inconclusive — which includes a file damaged or
cut mid-way, judged on what could be read and at best ``inconclusive`` (``capture.complete``); 2 unusable input
or capture impossible (one sentence on stderr, never a traceback); 141 (128 + SIGPIPE) when whoever reads our
output closed it early (``| head``), quietly; for ``capture``, COMMAND's own exit code when COMMAND failed.
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import stat
import sys
import time
from collections import Counter
from pathlib import Path

from .capture import DEFAULT_INTERFACE, Recorder
from .errors import EXIT_BAD_INPUT, EXIT_CLOSED_OUTPUT, EXIT_FINDINGS, EXIT_OK, InputError
from .pipeline import IDLE_TIMEOUT, KNOWN_PROTOCOLS, analyse, analyse_and_draw, analyse_live
from .render import document, table
from .wire.follow import Follow
from .wire.pcapread import STDIN, FileFacts, read_frames

_PROTOCOL_HELP = ("read connections that began before the capture and whose bytes say nothing as NAME, and name "
                  "the protocol whose expectations --scenario adds; recognised connections keep their own protocol")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one sentence and exit 2, as for any other bad input
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message}.\n")


def _prog() -> str:
    return "duplexlab" if Path(sys.argv[0]).name == "duplexlab" else "python -m analysis"


def _judging_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--protocol", choices=KNOWN_PROTOCOLS, help=_PROTOCOL_HELP)
    p.add_argument("--scenario", action="store_true", help="also apply the lab scenario's expectations")
    p.add_argument("--keylog", metavar="FILE", help="TLS key log (SSLKEYLOGFILE format) to decrypt TLS and QUIC with")
    p.add_argument("--idle-timeout", type=_seconds, default=IDLE_TIMEOUT, metavar="SECONDS",
                   help=f"conclude a TCP connection silent this long in capture time (default {IDLE_TIMEOUT:g}; 0: "
                        "never); the measures count them")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"--idle-timeout takes a number of seconds (0 or more), not {text!r}")
    return value


def _jobs(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"-j takes a number of processes (1 or more), not {text!r}")
    return int(text)


def _parts(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"--parts takes a number of parts (0 for automatic, or 1 or more), not "
                                         f"{text!r}")
    return int(text)


def _output_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    p.add_argument("--write-json", metavar="PATH", help="also write the JSON document to PATH")
    p.add_argument("--junit", metavar="OUT.xml", help="also write JUnit XML: a test case per invariant per capture")
    p.add_argument("--quiet", action="store_true", help="print nothing; the exit code says it all")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="list every connection in the table, with its Community ID and every judged finding")


class _Version(argparse.Action):
    """--version: the release and which path runs (the compiled hot modules or pure Python, analysis._speed)."""

    def __init__(self, option_strings, dest, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and whether the compiled path runs")

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        from importlib.metadata import PackageNotFoundError, version

        from ._speed import describe
        try:
            release = version("duplexlab")
        except PackageNotFoundError:
            release = "(not installed)"
        print(f"duplexlab {release}, {describe(__package__)}")
        parser.exit(EXIT_OK)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=_prog(), description="Check captures against duplexlab's invariants: who may speak when.")
    p.add_argument("--version", action=_Version)
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="check capture files and print a verdict per invariant")
    c.add_argument("files", nargs="+", metavar="FILE", help="pcap or pcapng files; - reads standard input (pipes "
                   "and FIFOs are read as streams)")
    c.add_argument("-j", "--jobs", type=_jobs, default=os.cpu_count() or 1, metavar="N",
                   help="check up to N files (or parts of a big one: --parts) at once in separate processes "
                        "(default: the cores); the output order and exit code do not change")
    c.add_argument("--cluster", metavar="ADDRESS",
                   help="check the files on a Dask cluster: a scheduler (tcp://host:8786) or local[:N] for N local "
                        "workers; output and exit code as with -j 1 (needs pip install 'duplexlab[cluster]')")
    c.add_argument("--parts", type=_parts, default=0, metavar="N",
                   help="split each capture into N parts by flow, judged by different workers (-j processes or "
                        "--cluster workers) and merged into the same result (default 0: a capture of 64 MiB or more "
                        "is split into as many parts as there are workers; 1: never split)")
    c.add_argument("--live", action="store_true",
                   help="read one capture as it grows (a pipe from dumpcap -w -, or a file being written) and print "
                        "each connection's verdict as it ends; Ctrl-C (or the pipe's end) gives the final verdict")
    c.add_argument("--annotate", metavar="OUT.pcapng",
                   help="also write a copy of the capture (one FILE) whose frames carry the findings that name them "
                        "as packet comments (Wireshark: frame.comment)")
    _judging_flags(c)
    _output_flags(c)
    r = sub.add_parser("report", help="write a self-contained HTML page with ladder diagrams and verdicts")
    r.add_argument("files", nargs="+", metavar="FILE", help="pcap or pcapng files")
    r.add_argument("-o", "--output", required=True, metavar="OUT.html", help="where to write the page")
    r.add_argument("--mermaid-dir", metavar="DIR", help="also write DIR/<capture>.mmd sequence diagrams")
    _judging_flags(r)
    k = sub.add_parser("capture", help="record a port's (or hosts') traffic around COMMAND, then check it",
                       usage="%(prog)s [--port PORT] [--host ADDR]... [--filter BPF] [--interface IFACE] "
                             "[-o FILE.pcapng] [check flags] -- COMMAND [ARG...]")
    k.add_argument("--port", type=int, help="the TCP/UDP port to record (both directions)")
    k.add_argument("--host", action="append", default=[], metavar="ADDR",
                   help="record only traffic to or from ADDR (repeatable: any of them)")
    k.add_argument("--filter", default="", metavar="BPF",
                   help="a capture filter in BPF syntax, and-ed with --port and --host")
    k.add_argument("--live", action="store_true",
                   help="check while recording: each connection's verdict as it ends, the final one when COMMAND ends")
    k.add_argument("--interface", default=DEFAULT_INTERFACE, metavar="IFACE",
                   help=f"where to capture (default: {DEFAULT_INTERFACE}, the loopback)")
    k.add_argument("-o", "--output", metavar="FILE.pcapng", help="where to keep the capture (default: "
                   "duplexlab-PORT-TIME.pcapng here)")
    _judging_flags(k)
    _output_flags(k)
    k.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARG...]", help="the traffic to record")
    g = sub.add_parser("grid", help="the interop grid's documents: merge the slices of a sharded make grid")
    g.add_argument("action", choices=["merge"], help="merge: join grid.json slices into one, and rewrite its page")
    g.add_argument("files", nargs="+", metavar="GRID.json", help="the slices (make grid SHARD=I/N)")
    g.add_argument("-o", "--output", required=True, metavar="grid.json", help="the merged document; the page is "
                   "written beside it as .html")
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command == "report":
            return _report(args)
        if args.command == "capture":
            return _capture(args)
        if args.command == "grid":
            return _grid_merge(args)
        return _check(args)
    except KeyboardInterrupt:
        print("interrupted.", file=sys.stderr)
        return 130
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        return _output_closed()


def _output_closed() -> int:
    """Whoever read our output stopped (``| head``): end quietly, as a tool killed by SIGPIPE would. Python's own
    flush of stdout at exit would fail again, so stdout is pointed at /dev/null first."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        try:
            os.fstat(fd)
            os.dup2(devnull, fd)
        except OSError:
            pass
    os.close(devnull)
    return EXIT_CLOSED_OUTPUT


def _check(args: argparse.Namespace) -> int:
    if getattr(args, "live", False):
        if len(args.files) != 1:
            raise InputError(f"--live follows one capture as it grows, not {len(args.files)}.")
        return _print(args, [_live(args, Follow())], [])
    if getattr(args, "parts", 0) > 1 and getattr(args, "jobs", 1) < 2 and not getattr(args, "cluster", None):
        raise InputError(f"--parts {args.parts} splits a capture over workers, so it needs -j 2 or more, or --cluster "
                         "(local:N, or a scheduler's address).")
    annotate = getattr(args, "annotate", None)  # capture reuses _check without the flag
    if annotate and len(args.files) != 1:
        raise InputError(f"--annotate writes one annotated copy, so it takes one capture file, not {len(args.files)}.")
    if annotate and _is_stream(args.files[0]):
        raise InputError("--annotate copies the capture after judging it, so it needs a file it can read again, "
                         "not a stream (save the capture to a file first).")
    results, bad = _each(args, analyse)
    if annotate and results:
        _annotate(args.files[0], annotate, results[0])
    return _print(args, results, bad)


def _annotate(src: str, dst: str, result) -> None:
    """The edge of the annotate stage: the copy of ``src`` with the findings as packet comments."""
    from .render.annotate import AnnotateError, comments, write_annotated  # a check that annotates nothing skips it
    try:
        marked = write_annotated(src, dst, comments(result))
    except AnnotateError as exc:
        raise InputError(f"cannot annotate {src}: {exc}") from None
    except OSError as exc:
        raise InputError(f"cannot write the annotated copy {exc.filename}: {exc.strerror}.") from None
    print(f"annotated: {dst} ({marked} frames carry findings as comments)", file=sys.stderr)


def _print(args: argparse.Namespace, results: list, bad: list[str]) -> int:
    """Warnings, documents and the exit code. A damaged file is judged on what was read (its verdict at best
    ``inconclusive``), so the exit code follows its verdict like any other's."""
    for r in results:
        for w in r.warnings:
            print(f"warning: {r.file}: {w}", file=sys.stderr)
    try:
        if args.write_json:
            Path(args.write_json).write_text(document.document(results) + "\n", encoding="utf-8")
        if args.junit:
            from .render.junit import write_junit  # junitparser loads only when JUnit is asked for
            write_junit(results, args.junit)
    except OSError as exc:
        raise InputError(f"cannot write {exc.filename}: {exc.strerror}.") from None
    if not args.quiet and results:
        if args.json:
            print(document.document(results))
        else:
            print(table.table(results, color=table.use_color(), verbose=args.verbose))
        sys.stdout.flush()  # here, where a closed output is caught, not at the interpreter's exit
    if bad:
        return EXIT_BAD_INPUT
    return EXIT_OK if all(r.verdict == "pass" for r in results) else EXIT_FINDINGS


def _each(args: argparse.Namespace, fn) -> tuple[list, list[str]]:
    """Apply ``fn`` to every file (in parallel processes with -j); unusable ones become one sentence each on
    stderr, in file order, and the rest go on."""
    more = {"idle_timeout": getattr(args, "idle_timeout", IDLE_TIMEOUT)}
    calls = [(fn, path, args.protocol, args.scenario, args.keylog, more) for path in args.files]
    # Streams (stdin, pipes, FIFOs) are read here: their file descriptors belong to this process.
    pooled = [i for i, path in enumerate(args.files) if not _is_stream(path)]
    outcomes: list = [None] * len(calls)
    there = [calls[i] for i in pooled]
    outcomes_there: list = [None] * len(there)  # None: checked here, below
    if getattr(args, "cluster", None) and pooled:
        from . import cluster
        outcomes_there = cluster.run(args.cluster, _attempt, there, getattr(args, "parts", 1))
    elif (jobs := getattr(args, "jobs", 1)) > 1 and pooled:
        from . import spread
        plan = spread.plan(there, getattr(args, "parts", 0), jobs)  # a big capture is split by flow
        if sum(plan) > 1:
            from concurrent.futures import ProcessPoolExecutor
            with ProcessPoolExecutor(min(jobs, sum(plan))) as pool:
                outcomes_there = spread.run(pool.submit, _attempt, there, plan)
    for i, outcome in zip(pooled, outcomes_there, strict=True):
        outcomes[i] = outcome
    for i, call in enumerate(calls):
        if outcomes[i] is None:
            outcomes[i] = _attempt(call)
    done, bad = [], []
    for result, error in outcomes:
        if error is None:
            done.append(result)
        else:
            bad.append(error)
            print(f"error: {error}", file=sys.stderr)
    return done, bad


def _is_stream(path: str) -> bool:
    """Standard input, a pipe, a FIFO or a device: anything but a regular file (or a missing one)."""
    if path == STDIN:
        return True
    try:
        return not stat.S_ISREG(os.stat(path).st_mode) and not stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return False


# Judging a capture makes millions of short-lived objects and few reference cycles (those a connection's parsers make
# go when it ends): the collector's youngest generation, scanned every 700 new objects by default, cost 2-4 % of the
# instructions for nothing. Scanned every 50 000, what cycles hold stays bounded all the same (docs/speed.md).
_GC_YOUNG = 50_000


def _attempt(call: tuple) -> tuple[object, str | None]:
    """One file's result, or the sentence saying why there is none (picklable either way)."""
    gc.set_threshold(_GC_YOUNG, *gc.get_threshold()[1:])  # in whichever process judges: -j and --cluster workers too
    fn, *rest, more = call
    try:
        return fn(*rest, **more), None
    except InputError as exc:
        return None, str(exc)


def _live(args: argparse.Namespace, follow: Follow) -> object:
    """Check one capture as it grows: a line per connection as it ends, with a running count; the result at the
    end of the input, or on Ctrl-C (which ends the input, not the program)."""
    tally: Counter[str] = Counter()
    color = table.use_color()
    quiet = args.quiet or args.json

    def ended(c) -> None:
        tally[c.verdict] += 1
        if not quiet:
            lines = table.connection_lines(c, color)
            count = ", ".join(f"{n} {v}" for v, n in tally.most_common())
            lines[0] = f"{time.strftime('%H:%M:%S')} {lines[0].strip()}  ({sum(tally.values())} ended: {count})"
            print("\n".join(lines), flush=True)

    previous = signal.signal(signal.SIGINT, lambda *_: follow.stop())
    try:
        return analyse_live(args.files[0], follow, ended, args.protocol, args.scenario, args.keylog,
                            getattr(args, "idle_timeout", IDLE_TIMEOUT))
    finally:
        signal.signal(signal.SIGINT, previous)


def _capture(args: argparse.Namespace) -> int:
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        raise InputError("capture needs the command to run after `--` (duplexlab capture --port 8080 -- ./client).")
    stem = args.port if args.port is not None else "capture"
    out = Path(args.output or f"duplexlab-{stem}-{time.strftime('%Y%m%d-%H%M%S')}.pcapng")
    recorder = Recorder(args.port, out, args.interface, comment=f"duplexlab capture: {' '.join(cmd)}"[:500],
                        hosts=args.host, bpf=args.filter)
    if args.live:
        return _capture_live(args, cmd, out, recorder)
    import subprocess

    with recorder:
        try:
            code = subprocess.call(cmd)
        except OSError as exc:
            raise InputError(f"cannot run {cmd[0]}: {exc.strerror}.") from None
    _give_back(out)
    facts = FileFacts(str(out))
    if not any(True for _ in read_frames(str(out), facts)):
        print(f"capture: {recorder.nothing_captured()}", file=sys.stderr)
    if not args.quiet:
        print(f"capture: {out} ({cmd[0]} exited with {code})", file=sys.stderr)
    args.files = [str(out)]
    verdict = _check(args)
    return code if code != 0 else verdict


def _capture_live(args: argparse.Namespace, cmd: list[str], out: Path, recorder: Recorder) -> int:
    """capture --live: the capture is checked while COMMAND runs; once it has ended, the recording is finalized
    and the rest of the file read, then the final verdict."""
    import subprocess

    with recorder:
        try:
            proc = subprocess.Popen(cmd)
        except OSError as exc:
            raise InputError(f"cannot run {cmd[0]}: {exc.strerror}.") from None

        def done() -> bool:
            if proc.poll() is None:
                return False
            recorder.stop()  # the tail is waited for and the pcapng finalized: what remains is read, then the end
            return True

        args.files = [str(out)]
        result = _live(args, Follow(done))
        code = proc.wait()
    _give_back(out)
    if not args.quiet:
        print(f"capture: {out} ({cmd[0]} exited with {code})", file=sys.stderr)
    verdict = _print(args, [result], [])
    return code if code != 0 else verdict


def _give_back(path: Path) -> None:
    """Under sudo the file belongs to root: hand it to the user who asked for it."""
    uid, gid = os.environ.get("SUDO_UID"), os.environ.get("SUDO_GID")
    if os.geteuid() == 0 and uid and gid:
        os.chown(path, int(uid), int(gid))


def _report(args: argparse.Namespace) -> int:
    drawn, bad = _each(args, analyse_and_draw)
    if not drawn:
        return EXIT_BAD_INPUT
    try:
        write_report(drawn, args.output, args.mermaid_dir)
    except OSError as exc:
        print(f"error: cannot write the report: {exc.strerror} ({exc.filename}).", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_BAD_INPUT if bad else EXIT_OK


def _grid_merge(args: argparse.Namespace) -> int:
    """The edge of ``grid merge`` (analysis.render.gridpage holds the logic)."""
    import json

    from .render import gridpage
    try:
        docs = [json.loads(Path(f).read_text(encoding="utf-8")) for f in args.files]
        doc = gridpage.merge(docs)
        out = Path(args.output)
        out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        out.with_suffix(".html").write_text(gridpage.render(doc), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read or write {exc.filename}: {exc.strerror}.") from None
    except (ValueError, KeyError, TypeError) as exc:  # GridError, bad JSON, a document of another kind
        raise InputError(f"cannot merge: {exc if isinstance(exc, ValueError) else 'not a grid document'}") from None
    return EXIT_OK


def write_report(drawn: list, output: str, mermaid_dir: str | None = None) -> None:
    """Write the HTML page and, if asked, one Mermaid file per capture (the edge of the report stage)."""
    from .render import htmlpage, mermaid
    Path(output).write_text(htmlpage.render(drawn), encoding="utf-8")
    if mermaid_dir:
        Path(mermaid_dir).mkdir(parents=True, exist_ok=True)
        for result, lads in drawn:
            name = Path(result.file).name.split(".")[0]
            text = mermaid.sequence_diagram(f"{name} ({result.protocol}): {result.verdict}", lads)
            (Path(mermaid_dir) / f"{name}.mmd").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
