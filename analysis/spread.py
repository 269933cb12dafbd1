"""Spreading file checks over workers: the process pool of ``-j N`` or the workers of a Dask cluster (``--cluster``).

Either executor is only a ``submit(fn, *args)`` that returns a future with ``.result()``; what is run where is
decided here, once for both:

- each file is one task; a big one (``plan``: 64 MiB or more by default, or ``--parts N``) is judged in parts by
  flow, one task a part, and the parts' results merge into the file's (``parts.py``); a capture that needs its
  connections together is judged whole after all (``merge`` answers None);
- tasks are handed over biggest first (longest-processing-time first: no worker idles behind a big file given
  last; a part counts as its share of the file);
- the outcomes come back in the calls' order, so the table, the JSON and the exit code are those of ``-j 1``.

A call is ``(fn, path, protocol, scenario, keylog, more)`` and ``attempt(call)`` gives ``(result, None)`` or
``(None, sentence)`` (``cli._attempt``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from .errors import InputError
from .parts import SPLIT_BYTES, analyse_part, merge

Submit = Callable[..., object]  # submit(fn, *args) -> a future: .result() waits for fn(*args)


def run(submit: Submit, attempt: Callable, calls: Sequence[tuple], plan: Sequence[int]) -> list:
    """``attempt(call)`` for every call, the ``plan[i]`` > 1 parts of a call each a task of their own; the outcomes
    in the calls' order."""
    tasks = [(i, k) for i, n in enumerate(plan) for k in range(n)]
    tasks.sort(key=lambda t: -_size(calls[t[0]][1]) / plan[t[0]])  # stable: equal shares keep their order
    futures: dict[tuple[int, int], object] = {}
    for i, k in tasks:
        futures[i, k] = submit(attempt, calls[i]) if plan[i] == 1 else submit(attempt_part, calls[i], k, plan[i])
    outcomes = []
    for i, call in enumerate(calls):
        if plan[i] == 1:
            outcomes.append(futures[i, 0].result())
            continue
        outcome = merge_parts(call, [futures[i, k].result() for k in range(plan[i])])
        if outcome is None:  # it needs its connections together: judged whole after all
            outcome = submit(attempt, call).result()
        outcomes.append(outcome)
    return outcomes


def plan(calls: Sequence[tuple], parts: int, workers: int, split_bytes: int = SPLIT_BYTES) -> list[int]:
    """How many parts each call's capture is judged in (``parts``: 0 automatic, 1 never, N)."""
    return [split_into(call, parts, workers, split_bytes) for call in calls]


def split_into(call: tuple, parts: int, workers: int, split_bytes: int = SPLIT_BYTES) -> int:
    """Only ``check``'s captures (no scenario), only a file, and automatically only a big one."""
    fn, path, _protocol, scenario, *_ = call
    if fn.__name__ != "analyse" or scenario or parts == 1:
        return 1
    if parts:
        return parts
    return workers if _size(path) >= split_bytes else 1


def attempt_part(call: tuple, index: int, count: int) -> tuple[object, str | None]:
    """Part ``index`` of ``count`` of a call's capture, or the sentence saying why there is none."""
    _fn, path, protocol, _scenario, keylog, more = call
    try:
        return analyse_part(path, protocol, keylog, index, count, **more), None
    except InputError as exc:
        return None, str(exc)


def merge_parts(call: tuple, outcomes: list[tuple[object, str | None]]) -> tuple[object, str | None] | None:
    """The capture's outcome from its parts' (the first error if any), or None: judge it whole."""
    for _, error in outcomes:
        if error is not None:
            return None, error
    result = merge(call[1], [part for part, _ in outcomes], call[2])
    return None if result is None else (result, None)


def _size(path: str) -> int:
    """A file's size in bytes (0 if it cannot be read: its error comes from its check, in file order)."""
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
