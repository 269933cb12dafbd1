"""Every command the README and docs/ show is one duplexlab accepts: the docs cannot drift from the tools.

Each ``duplexlab …`` / ``python -m analysis …`` command line in a shell block or inline code is parsed by the real
command-line parser (subcommand, flags, their values); each ``make TARGET VAR=…`` names a target the Makefile has
and variables its recipe reads. What the commands *do* is tested where each feature is (test_cli, test_annotate,
test_live, test_capture_command, test_cluster, e2e); this file makes sure nothing the docs show is a dead flag.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from analysis.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_PROG = re.compile(r"(?:^|[\s`(|;&])((?:duplexlab|python -m analysis|\.venv/bin/duplexlab) [^`\n|;&#]*)")
_MAKE = re.compile(r"(?:^|[\s`(])make ([a-z]+)((?: [A-Z_]+=(?:\"[^\"]*\"|'[^']*'|\S*))*)")


def _code(text: str) -> list[str]:
    """The shell blocks' lines and the inline code spans of a Markdown page."""
    blocks = re.findall(r"```(?:sh|bash|console)?\n(.*?)```", text, flags=re.S)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    lines = [line.split(" #")[0] for block in blocks for line in block.replace("\\\n", " ").splitlines()]
    return lines + inline


def _shown(pattern: re.Pattern) -> list[tuple[str, tuple]]:
    out = []
    for page in PAGES:
        for piece in _code(page.read_text()):
            out.extend((page.name, m.groups()) for m in pattern.finditer(piece))
    return out


PROGRAM_LINES = _shown(_PROG)
MAKE_LINES = _shown(_MAKE)


def test_the_docs_show_commands_at_all():
    assert len(PROGRAM_LINES) >= 20 and len(MAKE_LINES) >= 15


def _accepts(line: str) -> bool:
    """Whether duplexlab's parser takes the command line as the docs show it (placeholders filled)."""
    words = shlex.split(line.replace("…", "").replace("...", ""), posix=True)
    words = words[3:] if words[:3] == ["python", "-m", "analysis"] else words[1:]
    words = [w for w in words if not re.fullmatch(r"[A-Z]+(\.[A-Za-z]+)?|FILE\.*|<[^>]*>", w)] or ["--help"]
    if words in (["check"], ["capture"], ["report"], ["grid"], ["grid", "merge"]):
        return True  # the subcommand named in a sentence
    if words[0] == "capture" and "--" not in words:
        words.append("--")
    if words[0] == "capture" and words[-1] == "--":
        words.append("true")
    if words[0] == "check" and all(w.startswith("-") for w in words[1:]):
        words.append("x.pcapng")
    try:
        build_parser().parse_args(words)
    except SystemExit as exc:
        return exc.code == 0
    return True


@pytest.mark.parametrize(("page", "line"), [(p, g[0]) for p, g in PROGRAM_LINES], ids=lambda x: str(x)[:60])
def test_every_shown_command_parses(page, line):
    assert _accepts(line), f"{page}: `{line}` is not a command duplexlab accepts"


def test_a_dead_flag_or_subcommand_would_be_caught(capsys):
    assert not _accepts("duplexlab check --no-such-flag x.pcapng")
    assert not _accepts("duplexlab inspect x.pcapng")
    assert not _accepts("duplexlab capture --port notaport -- true")
    assert _accepts("duplexlab check --live -")


_MAKEFILE = (ROOT / "Makefile").read_text()


@pytest.mark.parametrize(("page", "target", "variables"), [(p, *g) for p, g in MAKE_LINES], ids=lambda x: str(x)[:40])
def test_every_shown_make_target_and_variable_exists(page, target, variables):
    assert re.search(rf"^{target}:", _MAKEFILE, flags=re.M), f"{page}: make {target} is not a target"
    for name in re.findall(r"([A-Z_]+)=", variables):
        assert f"$({name})" in _MAKEFILE, f"{page}: make {target} {name}= is read by no recipe"
