"""The pytest plugin (entry point ``pytest11``): the ``duplexlab`` fixture records your traffic and judges it.

    def test_ticker_pushes(duplexlab, my_server):
        with duplexlab.capture(port=my_server.port) as cap:      # loopback, filtered to that port
            run_my_client(my_server.url)
        cap.assert_holds()                                      # every protocol invariant of every connection
        cap.assert_holds("websocket.server-originates", at_least=3)
        assert cap.result.verdict == "pass"                     # what `duplexlab check --json` prints

Each capture is kept under the test's ``tmp_path`` (``--duplexlab-keep DIR`` copies them all
there); a failing assertion names the findings, their frames and the file. Without
permission to capture, the test fails with one sentence (``--duplexlab-missing=skip`` skips).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .capture import DEFAULT_INTERFACE, CaptureError, Recorder

if TYPE_CHECKING:
    from .findings import CaptureResult, Finding
    from .judge import Judge
# The analysis itself (events, findings, invariants, judge, pipeline) loads when a test first asks for a verdict:
# pytest loads this plugin before any test imports anything, and a package's compiled modules serve the first name
# that imports them (``_speed``), which should be the one the tests use (a clone's tests import ``analysis``).


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("duplexlab", "duplexlab: capture-backed assertions on who may speak when")
    group.addoption("--duplexlab-keep", metavar="DIR", help="copy every capture the duplexlab fixture makes to DIR")
    group.addoption("--duplexlab-missing", choices=("fail", "skip"), default="fail",
                    help="without permission to capture: fail the test (default) or skip it")


class Capture:
    """One recording: a context manager while traffic runs, then the result and the assertions."""

    def __init__(self, owner: Duplexlab, port: int, path: Path, interface: str, protocol: str | None,
                 keylog: str | None) -> None:
        self._owner = owner
        self.path = path
        self._recorder = Recorder(port, path, interface, comment=f"duplexlab pytest: {owner.node_name}")
        self._protocol, self._keylog = protocol, keylog
        self.result: CaptureResult | None = None
        self._judge: Judge | None = None

    def __enter__(self) -> Capture:
        try:
            self._recorder.start()
        except CaptureError as exc:
            self._owner.missing(str(exc))
        return self

    def __exit__(self, kind, exc, tb) -> None:
        self._recorder.__exit__(kind, exc, tb)
        if kind is None:
            from .pipeline import analyse_and_judge

            self.result, self._judge = analyse_and_judge(str(self.path), self._protocol, self._keylog)
            self._owner.kept(self.path)

    def assert_holds(self, invariant: str | None = None, **limits: float) -> Finding | None:
        """No argument: every protocol invariant of every connection holds (the verdict is pass).
        A protocol invariant id: it holds wherever it applies, and applied somewhere.
        A scenario expectation id: it holds with your thresholds (at_least=, spread=, hold=)."""
        __tracebackhide__ = True  # the failure points at the test's own line, not into the plugin
        from .findings import Status

        if self.result is None:
            raise AssertionError("assert_holds() is for after the `with duplexlab.capture(...)` block has ended.")
        if invariant is None:
            if limits:
                raise TypeError("thresholds go with a scenario expectation id: assert_holds(id, at_least=N)")
            bad = [f for f in self.result.findings if f.status in (Status.VIOLATED, Status.INCONCLUSIVE)]
            if bad or self.result.verdict != "pass":
                raise AssertionError(self._explain(bad, f"verdict {self.result.verdict}"))
            return None
        from .invariants import CHECKS, EXPECTATIONS

        if invariant in EXPECTATIONS:
            found = self._judge.expect(invariant, **limits)
        elif invariant in CHECKS:
            if limits:
                raise TypeError(f"{invariant} is a protocol invariant: it takes no thresholds")
            found = next((f for f in self.result.findings if f.invariant == invariant), None)
            if found is None:
                raise AssertionError(self._explain([], f"{invariant} did not apply to any connection in the capture "
                                                       f"(protocols seen: {self.result.protocol})"))
        else:
            known = ", ".join(sorted({*CHECKS, *EXPECTATIONS}))
            raise AssertionError(f"{invariant!r} is no duplexlab invariant id; known: {known}")
        if found.status is not Status.OK:
            raise AssertionError(self._explain([found], f"{invariant} is {found.status.value}"))
        return found

    def _explain(self, findings: list[Finding], headline: str) -> str:
        lines = [f"duplexlab: {headline}"]
        for f in findings:
            frames = f" [frames {', '.join(map(str, f.frames))}]" if f.frames else ""
            lines.append(f"  {f.invariant} {f.status.value}: {f.detail}{frames}")
        lines.append(f"  capture kept at {self.path} (open it in Wireshark; filter frame.number == N)")
        return "\n".join(lines)


class Duplexlab:
    """What the ``duplexlab`` fixture gives a test: ``capture(port=...)``."""

    def __init__(self, request: pytest.FixtureRequest, tmp_path: Path) -> None:
        self._config = request.config
        self.node_name = request.node.name
        self._dir = tmp_path / "duplexlab"
        self._count = 0

    def capture(self, port: int, interface: str = DEFAULT_INTERFACE, protocol: str | None = None,
                keylog: str | None = None) -> Capture:
        self._count += 1
        path = self._dir / f"{_safe(self.node_name)}-{self._count}.pcapng"
        return Capture(self, port, path, interface, protocol, keylog)

    def missing(self, sentence: str) -> None:
        if self._config.getoption("duplexlab_missing") == "skip":
            pytest.skip(sentence)
        pytest.fail(sentence, pytrace=False)

    def kept(self, path: Path) -> None:
        keep = self._config.getoption("duplexlab_keep")
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, Path(keep) / path.name)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:80]


@pytest.fixture
def duplexlab(request: pytest.FixtureRequest, tmp_path: Path) -> Duplexlab:
    return Duplexlab(request, tmp_path)
