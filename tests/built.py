"""What a test that needs the compiled path does when the tree under test lacks it: fail where it could have been
built (a C compiler is at hand, or CI), skip with the reason only where an install gives the pure path anyway; and
how a test runs Python on one path or the other (a process of its own each)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from analysis import _speed

ROOT = Path(__file__).resolve().parent.parent


def missing(why: str) -> None:
    """Fail, or skip where no C compiler is at hand, saying ``why`` (never returns)."""
    compiler = shutil.which(os.environ.get("CC") or "cc") or shutil.which("gcc")
    if os.environ.get("CI") == "true" or compiler:
        pytest.fail(f"{why} (a C compiler is at hand: {compiler})" if compiler else why)
    pytest.skip(f"{why}; no C compiler here, so an install gives the pure path")


def native(rel: str, what: str):
    """The NATIVE extension module ``rel`` (``wire._aead``), as the package loads it, or under DUPLEXLAB_PURE loaded
    here from the same file (the package then ignores it, and the tests hold it to the pure path themselves); where it
    is not built or is stale, ``missing`` says so, naming it as ``what``."""
    name = f"analysis.{rel}"
    extension = _speed._extension(rel)
    fresh = _speed._manifest().get(rel) == _speed.module_hash(rel)
    if extension is None or not fresh:
        missing(f"{what} ({rel}) is {'stale' if extension else 'not built'} in {ROOT}: build it with "
                "`pip install -e .` or `python setup.py build_ext --inplace`")
    if name in sys.modules:
        return sys.modules[name]
    if not _speed.pure_forced():
        import importlib

        return importlib.import_module(name)
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, extension, loader=_speed._CompiledLoader(name, extension))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def path_env(pure: bool) -> dict[str, str]:
    """This process's environment for a process on one path: ``DUPLEXLAB_PURE=1`` for the pure one, unset else."""
    env = {k: v for k, v in os.environ.items() if k != "DUPLEXLAB_PURE"}
    if pure:
        env["DUPLEXLAB_PURE"] = "1"
    return env


def on_path(args: list[str], pure: bool, timeout: int = 600) -> subprocess.CompletedProcess:
    """``python ARGS`` from the tree's root on one path, its output captured as text."""
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=path_env(pure), capture_output=True, text=True,
                          timeout=timeout)
