"""Command line: ``python -m analysis check FILE... [--protocol NAME] [--scenario] [--json]``
and ``python -m analysis report FILE... -o OUT.html [--mermaid-dir DIR]``.

Exit codes: 0 every invariant holds; 1 at least one violated or inconclusive;
2 unusable input (one sentence on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import EXIT_BAD_INPUT, EXIT_FINDINGS, EXIT_OK, InputError
from .pipeline import KNOWN_PROTOCOLS, analyse, analyse_and_draw
from .render import document, htmlpage, mermaid, table

_PROTOCOL_HELP = ("read connections that began before the capture and whose bytes say nothing as NAME, and name "
                  "the protocol whose expectations --scenario adds; recognised connections keep their own protocol")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one sentence and exit 2, as for any other bad input
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message}.\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m analysis", description="Check captures against duplexlab's invariants.")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="check capture files and print a verdict per invariant")
    c.add_argument("files", nargs="+", metavar="FILE", help="pcap or pcapng files")
    c.add_argument("--protocol", choices=KNOWN_PROTOCOLS, help=_PROTOCOL_HELP)
    c.add_argument("--scenario", action="store_true", help="also apply the lab scenario's expectations")
    c.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    c.add_argument("--write-json", metavar="PATH", help="also write the JSON document to PATH")
    c.add_argument("--keylog", metavar="FILE", help="TLS key log (SSLKEYLOGFILE format) to decrypt with tshark")
    c.add_argument("--quiet", action="store_true", help="print nothing; the exit code says it all")
    r = sub.add_parser("report", help="write a self-contained HTML page with ladder diagrams and verdicts")
    r.add_argument("files", nargs="+", metavar="FILE", help="pcap or pcapng files")
    r.add_argument("-o", "--output", required=True, metavar="OUT.html", help="where to write the page")
    r.add_argument("--protocol", choices=KNOWN_PROTOCOLS, help=_PROTOCOL_HELP)
    r.add_argument("--scenario", action="store_true", help="also apply the lab scenario's expectations")
    r.add_argument("--mermaid-dir", metavar="DIR", help="also write DIR/<capture>.mmd sequence diagrams")
    r.add_argument("--keylog", metavar="FILE", help="TLS key log (SSLKEYLOGFILE format) to decrypt with tshark")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _report(args) if args.command == "report" else _check(args)
    except KeyboardInterrupt:
        print("interrupted.", file=sys.stderr)
        return 130


def _check(args: argparse.Namespace) -> int:
    results, bad = _each(args, analyse)
    truncated = any(r.measures.get("capture", {}).get("truncated") for r in results)
    for r in results:
        for w in r.warnings:
            print(f"warning: {r.file}: {w}", file=sys.stderr)
    if args.write_json:
        with open(args.write_json, "w", encoding="utf-8") as fh:
            fh.write(document.document(results) + "\n")
    if not args.quiet and results:
        if args.json:
            print(document.document(results))
        else:
            print(table.table(results, color=table.use_color()))
    if bad or truncated:
        return EXIT_BAD_INPUT
    return EXIT_OK if all(r.verdict == "pass" for r in results) else EXIT_FINDINGS


def _each(args: argparse.Namespace, fn) -> tuple[list, list[str]]:
    """Apply ``fn`` to every file; unusable ones become one sentence each on stderr, the rest go on."""
    done, bad = [], []
    for path in args.files:
        try:
            done.append(fn(path, args.protocol, args.scenario, args.keylog))
        except InputError as exc:
            bad.append(str(exc))
            print(f"error: {exc}", file=sys.stderr)
    return done, bad


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


def write_report(drawn: list, output: str, mermaid_dir: str | None = None) -> None:
    """Write the HTML page and, if asked, one Mermaid file per capture (the edge of the report stage)."""
    Path(output).write_text(htmlpage.render(drawn), encoding="utf-8")
    if mermaid_dir:
        for result, lads in drawn:
            name = Path(result.file).name.split(".")[0]
            text = mermaid.sequence_diagram(f"{name} ({result.protocol}): {result.verdict}", lads)
            (Path(mermaid_dir) / f"{name}.mmd").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
