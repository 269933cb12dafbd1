"""What a test that needs the compiled path does when the tree under test lacks it: fail where it could have been
built (a C compiler is at hand, or CI), skip with the reason only where an install gives the pure path anyway."""

from __future__ import annotations

import os
import shutil

import pytest


def missing(why: str) -> None:
    """Fail, or skip where no C compiler is at hand, saying ``why`` (never returns)."""
    compiler = shutil.which(os.environ.get("CC") or "cc") or shutil.which("gcc")
    if os.environ.get("CI") == "true" or compiler:
        pytest.fail(f"{why} (a C compiler is at hand: {compiler})" if compiler else why)
    pytest.skip(f"{why}; no C compiler here, so an install gives the pure path")
