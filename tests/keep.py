"""The captures a failing end-to-end test read, kept for whoever reads the failure.

The lab overwrites its captures on every run, so a test that fails once on a capture (a flake in CI) leaves
nothing to read unless the capture is kept. A test asks for ``keep_on_failure`` and hands it each capture it
reads; when the test fails, each is copied into captures/failed/ (``DUPLEXLAB_FAILED_DIR`` elsewhere) and the
copies are named in the failure report, under "kept captures". A test that passes keeps nothing.

tests/e2e/conftest.py brings the fixture and the hook in.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def failed_dir() -> Path:
    return Path(os.environ.get("DUPLEXLAB_FAILED_DIR") or ROOT / "captures" / "failed")


def keep(path: Path, test: str) -> str:
    """Copy ``path`` into failed_dir() under a name that says which test failed on it and when; say where."""
    if not path.exists():
        return f"{path}: not there to keep"
    folder = failed_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    dest = folder / f"{stamp}-{re.sub(r'[^A-Za-z0-9_.=-]+', '_', test)[:120]}-{path.name}"
    shutil.copy2(path, dest)
    return f"{path} kept as {dest}"


@pytest.fixture
def keep_on_failure(request) -> Callable[[Path], None]:
    """Call it with each capture the test reads: it is kept if the test fails."""
    paths: list[Path] = []
    request.node.duplexlab_keep = paths
    return lambda path: paths.append(Path(path))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    paths = getattr(item, "duplexlab_keep", ())
    if report.when == "call" and report.failed and paths:
        report.sections.append(("kept captures", "\n".join(keep(p, item.name) for p in paths)))
