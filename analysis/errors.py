"""Errors that end a run with one sentence and a distinct exit code (no traceback)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1  # an invariant is violated or inconclusive (a file damaged mid-way included: capture.complete)
EXIT_BAD_INPUT = 2  # not a capture, unreadable, a needed tool missing, bad arguments
EXIT_CLOSED_OUTPUT = 141  # 128 + SIGPIPE: the reader of our output closed it early (`| head`), as a shell reports it


class InputError(Exception):
    """The input cannot be analysed at all; ``str(self)`` is the one sentence the user sees."""

    exit_code = EXIT_BAD_INPUT
