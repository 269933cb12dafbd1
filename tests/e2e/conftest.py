"""End-to-end fixtures: a failing test keeps the captures it read (tests/keep.py)."""

from tests.keep import keep_on_failure, pytest_runtest_makereport  # noqa: F401
