"""The compiled path (the hot modules built by setup.py with Cython) against the pure-Python one: the same captures,
the same JSON documents, the same wire events.

Each path runs in its own process (DUPLEXLAB_PURE=1 for the pure one) on the real-world corpus, the TLS, stack,
mid-stream and fragment fixtures, crafted captures, a 10^4-packet bench capture and an HTTP/3 one. Where no compiled
path was built, the test says so and fails when a C compiler is at hand or under CI (no silent skip); without a
compiler it is skipped with the reason, since the pure package is then what an install gives.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.built import missing, on_path
from tests.crafted import WS_101, WS_UPGRADE, C, Conv, S, get, ok, ws_frame, ws_long_length

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
sys.path.insert(0, str(ROOT / "benchmarks"))
from make_capture import write as write_bench  # noqa: E402
from make_capture import write_h3  # noqa: E402

sys.path.pop(0)

# One process per path: every capture's wire events (with the counters the dissection kept) as text, one JSON
# object per capture. The JSON documents come from the command line itself (check --json).
_EVENTS = """
import json, sys
from analysis.protocols.dissect import Counters, stream
from analysis.wire.keys import Keylog
from analysis.wire.pcapread import FileFacts, read_frames
out = {}
for path, keylog in json.loads(sys.argv[1]):
    facts, counters = FileFacts(path), Counters()
    extra = open(keylog, "rb").read() if keylog else b""
    items = [repr(item) for item in stream(read_frames(path, facts), None, counters, Keylog(facts.keylog, extra))]
    out[path] = {"items": items, "counters": repr(counters)}
print(json.dumps(out))
"""


_run = on_path


def _path(pure: bool) -> str:
    return _run(["-m", "analysis", "--version"], pure).stdout.strip()


@pytest.fixture(scope="module")
def compiled() -> str:
    said = _path(pure=False)
    if "compiled (Cython)" in said and "partly" not in said:
        return said
    why = (f"the compiled path is not (wholly) built here: --version says {said!r}; build it with "
           "`pip install -e .` (lab/bootstrap.sh does) or `python setup.py build_ext --inplace`")
    missing(why)


@pytest.fixture(scope="module")
def captures(tmp_path_factory, corpus) -> list[tuple[str, str | None]]:
    """(capture, key log or None) for every capture both paths read."""
    tmp = tmp_path_factory.mktemp("compiled")
    found: list[tuple[str, str | None]] = []
    for p in sorted(corpus.iterdir()):
        if p.suffix in (".pcap", ".pcapng"):
            keylog = p.with_suffix(".keylog")
            found.append((str(p), str(keylog) if keylog.exists() else None))
    for topic in ("tls", "stacks", "midstream", "fragments"):
        found += [(str(p), None) for p in sorted((FIXTURES / topic).glob("*.pcap*"))]
    found += [(path, None) for path in _crafted(tmp)]
    bench = str(tmp / "bench-mix-10000.pcap")
    write_bench(10_000, bench, "mix")
    found.append((bench, None))
    tls = str(tmp / "bench-websocket-tls-2000.pcap")
    write_bench(2_000, tls, "websocket-tls")
    found.append((tls, tls + ".keylog"))
    h3 = str(tmp / "bench-http3-1500.pcapng")  # QUIC and HTTP/3 (decode_udp, carrier: compiled), keys in its DSB
    write_h3(1500, h3)
    found.append((h3, None))
    return found


def _crafted(tmp: Path) -> list[str]:
    """Small captures that hold and break: a WebSocket session with a masked server frame, HTTP/1.1 keep-alive
    with a response before its request, a connection cut mid-way, WebSocket lengths at the edge of 64 bits."""
    ws = Conv().handshake()
    ws.send(C, WS_UPGRADE)
    ws.send(S, WS_101)
    ws.send(C, ws_frame(b"hello", masked=True))
    ws.send(S, ws_frame(b"masked by the server", masked=True))
    ws.send(S, ws_frame(b"", opcode=8))
    ws.close(C)
    h1 = Conv(client=("10.0.0.1", 40002)).handshake()
    h1.send(C, get("/a"))
    h1.send(S, ok(b"one"))
    h1.send(S, ok(b"unasked"))
    h1.send(C, get("/b"))
    h1.send(S, ok(b"two"))
    h1.close(S, how="R")
    cut = Conv(client=("10.0.0.1", 40003)).handshake()
    cut.send(C, get("/never-answered"))
    # 64-bit WebSocket lengths: compiled, a length is a C integer (2**63 is a violation; 2**63 - 1 a frame still coming)
    edges = [ws_long_length(tmp / f"crafted-ws-length-{n}.pcap", n, masked=True) for n in (2**63, 2**63 - 1)]
    return [ws.write(tmp / "crafted-ws.pcap"), h1.write(tmp / "crafted-h1.pcapng", ng=True),
            cut.write(tmp / "crafted-cut.pcap"), *edges]


def test_the_variable_chooses_the_path(compiled):
    assert "pure Python (DUPLEXLAB_PURE is set)" in _path(pure=True)
    assert compiled.startswith("duplexlab ") and "compiled (Cython)" in compiled


def test_check_json_is_the_same_on_both_paths(compiled, captures):
    plain = [path for path, keylog in captures if keylog is None]
    runs = {}
    for pure in (False, True):
        both = [_run(["-m", "analysis", "check", "--json", *plain], pure)]
        both += [_run(["-m", "analysis", "check", "--json", "--keylog", keylog, path], pure)
                 for path, keylog in captures if keylog is not None]
        assert all(r.returncode in (0, 1) for r in both), [r.stderr for r in both]
        runs[pure] = [(r.returncode, json.loads(r.stdout), r.stderr) for r in both]
    assert len(runs[False][0][1]["captures"]) == len(plain)
    for compiled_run, pure_run in zip(runs[False], runs[True], strict=True):
        assert compiled_run == pure_run


def test_wire_events_are_the_same_on_both_paths(compiled, captures):
    outs = {}
    for pure in (False, True):
        r = _run(["-c", _EVENTS, json.dumps(captures)], pure)
        assert r.returncode == 0, r.stderr
        outs[pure] = json.loads(r.stdout)
    assert sum(len(v["items"]) for v in outs[False].values()) > 10_000  # the bench capture alone makes thousands
    for path, _ in captures:
        assert outs[False][path] == outs[True][path], path


_BOTH_NAMES = """
import pickle, sys
import duplexlab.pytest_plugin  # the installed name first, as pytest loads the plugin before any test
import analysis.invariants.common, analysis.invariants.http1, analysis.protocols.dissect, analysis.wire.tcp
import duplexlab.invariants.common, duplexlab.invariants.http1
for pkg in (analysis, duplexlab):
    assert pkg.invariants.http1.MessageSyntax.__mro__[1] is pkg.invariants.common.SyntaxCheck, pkg
assert analysis.protocols.dissect.Reassembler is analysis.wire.tcp.Reassembler
assert not [n for n in sys.modules if n.startswith("_duplexlab_built")]
c = analysis.protocols.dissect.Counters(frames=3)
assert type(pickle.loads(pickle.dumps(c))) is analysis.protocols.dissect.Counters
print(analysis.wire.tcp.__file__)
"""


def test_a_clone_and_an_installed_duplexlab_in_one_process_keep_their_own_modules(compiled):
    """pytest loads the installed duplexlab (its plugin) before the tests import the clone's analysis: each name's
    compiled modules must import their own siblings, and pickle must find a class under the name it was loaded by."""
    r = _run(["-c", _BOTH_NAMES], pure=False)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip().endswith(".so"), r.stdout


_SAME_TREE_FIRST = """
import duplexlab.judge, duplexlab.findings  # the installed name takes the compiled modules first
import analysis.judge, analysis.findings
from analysis import _speed
for pkg in (duplexlab, analysis):
    assert pkg.judge.Status is pkg.findings.Status, pkg  # each name's modules bound to its own classes
print(_speed.describe("analysis"))
"""


def test_one_tree_under_both_names_gives_each_name_its_own_classes(compiled):
    """An editable install is the clone itself: ``duplexlab`` and ``analysis`` are one tree, one set of extension
    files. An extension loads once per process (a second load hands back the first module, bound to the other
    name's classes: findings compared with ``is`` then fail), so the second name runs the source."""
    r = _run(["-c", _SAME_TREE_FIRST], pure=False)
    assert r.returncode == 0, r.stderr[-3000:]
    import duplexlab

    same_tree = Path(duplexlab.__file__).resolve().parent == ROOT / "analysis"
    assert ("compiled under duplexlab in this process" in r.stdout) is same_tree, r.stdout


def test_the_tests_in_this_process_run_the_compiled_modules(compiled):
    """pytest loads the installed duplexlab's plugin before any test: were the plugin to import a hot module (events,
    through findings), the clone's ``analysis`` would run that module, and every module that cimports it, as Python
    in this process, and the in-process tests would hold the pure path alone. (Under DUPLEXLAB_PURE=1, the other
    way round: every one runs as Python.)"""
    import sys

    from analysis import _speed
    from analysis.protocols import dissect  # noqa: F401 (imports the chain: events, http1, websocket, tcp...)

    finder = next(f for f in sys.meta_path if getattr(f, "package", None) == "analysis" and hasattr(f, "chosen"))
    assert {"events", "protocols.dissect", "protocols.http1"} <= finder.chosen.keys(), finder.chosen
    if _speed.pure_forced():  # the suite's pure run (CI's second): every hot module runs as Python, by the variable
        assert all(why == f"{_speed.ENV} is set" for why in finder.chosen.values()), finder.chosen
    else:
        pure = {rel: why for rel, why in finder.chosen.items() if why != "compiled"}
        assert not pure, pure


def test_a_module_is_stale_when_its_pxd_changes_too(tmp_path):
    from analysis import _speed

    source = tmp_path / "mod.py"
    source.write_text("x = 1\n")
    alone = _speed.source_hash(str(source))
    (tmp_path / "mod.pxd").write_text("cdef class A:\n    cdef public object a\n")
    typed = _speed.source_hash(str(source))
    (tmp_path / "mod.pxd").write_text("cdef class A:\n    cdef public object a, b\n")
    assert len({alone, typed, _speed.source_hash(str(source))}) == 3
    assert _speed.source_hash(str(tmp_path / "missing.py")) is None
    # every .pxd in the tree types a module the build compiles (one anywhere else would be dead)
    root = Path(_speed.__file__).parent
    typed_modules = {str(p.relative_to(root).with_suffix("")).replace("/", ".") for p in root.rglob("*.pxd")}
    assert typed_modules and typed_modules <= {*_speed.HOT, *_speed.DECLARED}


def test_a_module_is_stale_when_a_pxd_it_cimports_changes(tmp_path):
    """A module compiled against another's types (``_speed.CIMPORTS``) was compiled against their layout too."""
    from analysis import _speed

    rel, dep = next(iter(_speed.CIMPORTS.items()))
    for name in (rel, dep[0]):
        path = tmp_path.joinpath(*name.split("."))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.with_suffix(".py").write_text("x = 1\n")
        path.with_suffix(".pxd").write_text("cdef class A:\n    cdef public object a\n")
    before = _speed.module_hash(rel, str(tmp_path))
    tmp_path.joinpath(*dep[0].split(".")).with_suffix(".pxd").write_text("cdef class A:\n    cdef public object a, b\n")
    assert _speed.module_hash(rel, str(tmp_path)) != before
    assert _speed.module_hash(dep[0], str(tmp_path)) == _speed.source_hash(
        str(tmp_path.joinpath(*dep[0].split(".")).with_suffix(".py")))


def test_the_cimports_table_is_the_pxd_files_cimports():
    """CIMPORTS (what the loader shows a module while it loads, and what its staleness covers) lists exactly the
    modules each .pxd cimports."""
    import re

    from analysis import _speed

    root = Path(_speed.__file__).parent
    found = {}
    for pxd in sorted(root.rglob("*.pxd")):
        deps = re.findall(rf"^\s*from {_speed.BUILT_AS}\.([\w.]+) cimport", pxd.read_text(), re.M)
        if deps:
            found[str(pxd.relative_to(root).with_suffix("")).replace("/", ".")] = tuple(deps)
    assert found and found == _speed.CIMPORTS
    assert all(dep in _speed.HOT or dep in _speed.DECLARED for deps in found.values() for dep in deps)
    assert all(not root.joinpath(*d.split(".")).with_suffix(".py").exists() for d in _speed.DECLARED)
    # what a module was compiled against includes what its cimports were (Cython imports their types too)
    for rel, deps in found.items():
        closure = set(_speed.cimported(rel))
        assert set(deps) <= closure and all(set(_speed.cimported(dep)) <= closure for dep in deps), rel
    assert "protocols.websocket" in _speed.cimported("protocols.dissect")  # through protocols.http1


_DEP_PURE = """
import sys
from analysis import _speed
finder = next(f for f in sys.meta_path if isinstance(f, _speed._Finder) and f.package == "analysis")
rel, deps = next(iter(_speed.CIMPORTS.items()))
finder.built[deps[0]] = "stale"  # as if its source had changed since the build
import importlib
dep, mod = importlib.import_module("analysis." + deps[0]), importlib.import_module("analysis." + rel)
assert dep.__file__.endswith(".py") and mod.__file__.endswith(".py"), (dep.__file__, mod.__file__)
print(finder.chosen[rel])
from analysis.pipeline import analyse
print(analyse(sys.argv[1]).verdict)
assert not [n for n in sys.modules if n.startswith(_speed.BUILT_AS)]
"""


def test_a_module_runs_as_python_where_a_module_it_cimports_does(compiled):
    """Compiled against another module's C types, a module cannot run beside that module's Python classes: it runs
    its source too, and says why."""
    capture = str(FIXTURES / "stacks" / "socketio_upgrade.pcapng")
    r = _run(["-c", _DEP_PURE, capture], pure=False)
    assert r.returncode == 0, r.stderr[-3000:]
    why, verdict = r.stdout.splitlines()
    assert why.endswith("which runs as Python here") and verdict == "pass", r.stdout
