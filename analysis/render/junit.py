"""JUnit XML for CI systems: one test case per invariant per capture, written with junitparser.

``violated`` is a failure whose message is the finding's sentence with its frames;
``inconclusive`` a failure of its own type (``inconclusive``); ``not-applicable`` skipped;
``ok`` passes. The connections behind a finding that did not hold are listed in the body.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from junitparser import Failure, JUnitXml, Skipped, TestCase, TestSuite

from ..findings import CaptureResult, Finding, Status


def _message(f: Finding) -> str:
    frames = f" [frames {', '.join(map(str, f.frames))}]" if f.frames else ""
    return f"{f.detail}{frames}"


def _body(r: CaptureResult, f: Finding) -> str:
    lines = [f"{f.invariant} ({f.kind}): {f.status.value} — {f.source}"]
    for c in r.connections:
        for cf in c.findings:
            if cf.invariant == f.invariant and cf.status in (Status.VIOLATED, Status.INCONCLUSIVE):
                lines.append(f"{c.label} [{c.protocol}] community_id {c.community_id} {cf.status.value}: "
                             f"{_message(cf)}")
    lines.append(f"capture: {r.file} (open it in Wireshark; filter frame.number == N)")
    return "\n".join(lines)


def junit(results: Sequence[CaptureResult]) -> JUnitXml:
    xml = JUnitXml("duplexlab")
    for r in results:
        suite = TestSuite(f"duplexlab {r.file}")
        suite.add_property("verdict", r.verdict)
        suite.add_property("protocol", r.protocol)
        stem = Path(r.file).name.split(".")[0]
        for f in r.findings:
            case = TestCase(f.invariant, f"duplexlab.{stem}")
            if f.status is Status.VIOLATED:
                result = Failure(_message(f), "violated")
                result.text = _body(r, f)
                case.result = [result]
            elif f.status is Status.INCONCLUSIVE:
                result = Failure(_message(f), "inconclusive")
                result.text = _body(r, f)
                case.result = [result]
            elif f.status is Status.NOT_APPLICABLE:
                case.result = [Skipped(_message(f))]
            else:
                case.system_out = _message(f)
            suite.add_testcase(case)
        xml.add_testsuite(suite)
    return xml


def write_junit(results: Sequence[CaptureResult], path: str) -> None:
    junit(results).write(path, pretty=True)
