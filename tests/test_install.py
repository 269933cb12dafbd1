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
    # Built as a user builds it: DUPLEXLAB_PURE (set by CI's pure-path run) would make setup.py compile nothing.
    build_env = {k: v for k, v in os.environ.items() if k != "DUPLEXLAB_PURE"}
    proc = subprocess.run([str(env / "bin" / "pip"), "install", "-q", f"{src}[pytest]"], capture_output=True,
                          text=True, timeout=600, env=build_env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return env


def _run(venv: Path, *args: str, cwd: Path, env_extra: dict | None = None, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}", **(env_extra or {})}
    env.pop("PYTHONPATH", None)
    if env_extra is None:
        env.pop("DUPLEXLAB_PURE", None)  # the installed path as built (CI runs the suite again with it set)
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


def test_an_install_where_a_compiler_is_runs_the_compiled_path_and_pickles(venv, corpus, tmp_path):
    """pip install . compiled the hot modules (setup.py); -j 2 sends results between processes under the installed
    name, and DUPLEXLAB_PURE=1 gives the same document from the same install."""
    if not (shutil.which(os.environ.get("CC") or "cc") or shutil.which("gcc")):
        pytest.skip("no C compiler here: the install is pure Python (test_an_install_without_a_compiler covers it)")
    said = _run(venv, "duplexlab", "--version", cwd=tmp_path).stdout
    assert "compiled (Cython)" in said and "partly" not in said, said
    assert said.rstrip().endswith("QUIC/TLS AES-GCM: OpenSSL contexts"), said  # wire/_aead.pyx built and found fresh
    files = [str(corpus / "ws-arkime.pcap"), str(corpus / "http1-keepalive-5req-zeek.pcap")]
    docs = [_run(venv, "duplexlab", "check", "--json", "-j", "2", *files, cwd=tmp_path, env_extra=extra)
            for extra in (None, {"DUPLEXLAB_PURE": "1"})]
    assert [d.returncode for d in docs] == [0, 0], [d.stderr for d in docs]
    assert docs[0].stdout == docs[1].stdout


def test_an_install_without_a_compiler_is_pure_python_and_works(tmp_path, corpus):
    """No C compiler (CC=/bin/false): the install still succeeds, quietly, and runs as pure Python."""
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=_NOT_SOURCE)
    env = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True, timeout=120)
    proc = subprocess.run([str(env / "bin" / "pip"), "install", "-q", str(src)], capture_output=True, text=True,
                          timeout=600, env={**{k: v for k, v in os.environ.items() if k != "DUPLEXLAB_PURE"},
                                            "CC": "/bin/false"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    said = _run(env, "duplexlab", "--version", cwd=tmp_path).stdout
    assert "pure Python (not built)" in said, said
    proc = _run(env, "duplexlab", "check", str(corpus / "ws-arkime.pcap"), cwd=tmp_path)
    assert proc.returncode == 0 and "[websocket]  verdict: PASS" in proc.stdout, proc.stdout + proc.stderr


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
