"""Spreading checks over workers (spread.py): which captures are split, in what order tasks are handed over, and
that the outcomes come back in the calls' order, merged, whatever order the workers finish in."""

from __future__ import annotations

from pathlib import Path

from analysis import spread
from analysis.cli import _attempt
from analysis.pipeline import IDLE_TIMEOUT, analyse
from analysis.render import document

MORE = {"idle_timeout": IDLE_TIMEOUT}


def _call(path, fn=analyse, scenario=False) -> tuple:
    return (fn, str(path), None, scenario, None, MORE)


class _Recorder:
    """A synchronous executor that remembers what was handed over, in order."""

    def __init__(self) -> None:
        self.order: list[tuple] = []

    def submit(self, fn, *args):
        self.order.append((fn.__name__, Path(args[0][1]).name, *args[1:]))
        outcome = fn(*args)
        return type("Done", (), {"result": lambda _self: outcome})()


def test_a_big_capture_is_split_into_as_many_parts_as_workers_and_only_a_check(tmp_path):
    small, big = tmp_path / "small.pcap", tmp_path / "big.pcap"
    small.write_bytes(b"x" * 100)
    big.write_bytes(b"x" * 1000)
    calls = [_call(small), _call(big), _call(big, scenario=True), _call(big, fn=len), _call(tmp_path / "gone.pcap")]
    assert spread.plan(calls, 0, 3, split_bytes=1000) == [1, 3, 1, 1, 1]
    assert spread.plan(calls, 1, 3, split_bytes=1000) == [1, 1, 1, 1, 1]
    assert spread.plan(calls, 2, 3, split_bytes=1000) == [2, 2, 1, 1, 2]  # a missing file: its error says why


def test_tasks_go_biggest_first_and_outcomes_come_back_in_call_order(corpus, tmp_path):
    from .test_path import sse_opened  # the path tests' own capture of a proxy's two legs

    proxy = Path(sse_opened()[0].write(tmp_path / "proxy.pcap"))  # its parts do not merge: judged whole after them
    files = [corpus / "sse-servertime-flask-susam.pcap", corpus / "ws-arkime.pcap", tmp_path / "missing.pcap", proxy]
    sizes = [f.stat().st_size if f.exists() else 0 for f in files]
    plan = [1, 2, 1, 2]
    pool = _Recorder()
    outcomes = spread.run(pool.submit, _attempt, [_call(f) for f in files], plan)
    tasks = sorted((-sizes[i] / plan[i], i, k) for i in range(len(files)) for k in range(plan[i]))
    expected = [("_attempt", files[i].name) if plan[i] == 1 else ("attempt_part", files[i].name, k, plan[i])
                for _, i, k in tasks]
    assert pool.order == [*expected, ("_attempt", proxy.name)]
    assert outcomes[2][0] is None and "missing.pcap" in outcomes[2][1]
    for f, (result, error) in zip(files, outcomes, strict=True):
        if f.exists():
            assert error is None and document.document([result]) == document.document([analyse(str(f))])
