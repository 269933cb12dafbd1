"""duplexlab as a user installs it: a fresh virtualenv, not editable, used outside the repository,
then the CI example (docs/ci) run with it exactly as the GitHub and GitLab examples run it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from junitparser import JUnitXml

from tests.test_capture_command import needs_capture

ROOT = Path(__file__).resolve().parent.parent
_NOT_SOURCE = shutil.ignore_patterns(".venv", ".git", "captures", "build", "*.egg-info", "__pycache__", "out",
                                     "artifacts")


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A new virtualenv with duplexlab installed from a copy of this tree (so nothing is written here)."""
    base = tmp_path_factory.mktemp("fresh")
    src = base / "src"
    shutil.copytree(ROOT, src, ignore=_NOT_SOURCE)
    env = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True, timeout=120)
    # The README's install line for the plugin: the [pytest] extra brings pytest itself.
    proc = subprocess.run([str(env / "bin" / "pip"), "install", "-q", f"{src}[pytest]"], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return env


def _run(venv: Path, *args: str, cwd: Path, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, env=env, timeout=300, **kw)


def test_the_installed_package_is_duplexlab_and_claims_no_generic_names(venv, corpus, tmp_path):
    proc = _run(venv, "duplexlab", "check", str(corpus / "ws-arkime.pcap"), cwd=tmp_path)
    assert proc.returncode == 0 and "[websocket]  verdict: PASS" in proc.stdout, proc.stdout + proc.stderr
    probe = ("import importlib.util as u, duplexlab.render.document as d; "
             "print(u.find_spec('analysis'), u.find_spec('lab'), d.schema()['properties']['schema']['const'])")
    proc = _run(venv, "python", "-c", probe, cwd=tmp_path)
    assert proc.stdout.split() == ["None", "None", "3"], proc.stderr
    proc = _run(venv, "python", "-m", "pytest", "--help", cwd=tmp_path)
    assert "--duplexlab-keep" in proc.stdout and "--duplexlab-missing" in proc.stdout


@needs_capture
def test_the_ci_example_runs_as_the_examples_run_it(venv, tmp_path):
    for name in ("github-actions.yml", "gitlab-ci.yml"):
        assert "bash ci/check-service.sh" in (ROOT / "docs" / "ci" / name).read_text()
    project = tmp_path / "your-service"
    shutil.copytree(ROOT / "docs" / "ci" / "example", project)
    proc = _run(venv, "bash", "ci/check-service.sh", cwd=project)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    tests = JUnitXml.fromfile(str(project / "pytest-junit.xml"))
    assert (tests.tests, tests.failures, tests.errors, tests.skipped) == (1, 0, 0, 0)
    wire = JUnitXml.fromfile(str(project / "duplexlab-junit.xml"))
    names = {case.name for suite in wire for case in suite}
    assert {"sse.one-response-many-events", "sse.client-silent", "http1.response-follows-request"} <= names
    assert wire.failures == 0
    assert sorted(p.name for p in (project / "captures").iterdir()) == [
        "test_events_stream_from_the_server-1.pcapng", "urllib-client.pcapng"]
