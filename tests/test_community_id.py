"""Community ID per connection: the reference value of the spec, and tshark's own Community ID on every corpus flow."""

from __future__ import annotations

import subprocess
import sys

from analysis.flowid import community_id
from analysis.pipeline import analyse
from tests.test_corpus import VERDICTS


def test_the_specs_reference_flow():
    # corelight/community-id-spec, baseline: tcp 128.232.110.120:34855 -> 66.35.250.204:80, seed 0.
    assert community_id("tcp", ("128.232.110.120", 34855), ("66.35.250.204", 80)) == "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
    # The hash does not depend on which end is the client.
    assert community_id("tcp", ("66.35.250.204", 80), ("128.232.110.120", 34855)) == "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
    assert community_id("tcp", ("::1", 1), ("::1", 2)).startswith("1:")
    assert community_id("tcp", ("not an address", 1), ("::1", 2)) is None


def _tshark_ids(path: str) -> set[str]:
    proc = subprocess.run(["tshark", "-n", "-r", path, "--enable-protocol", "communityid", "-Y", "tcp", "-T", "fields",
                           "-e", "communityid"], capture_output=True, text=True, timeout=120, check=True)
    return {line for line in proc.stdout.split() if line}


def test_every_listed_corpus_connection_has_tsharks_community_id(corpus):
    compared = 0
    for name in sorted(VERDICTS):
        path = str(corpus / name)
        ours = {c.community_id for c in analyse(path).connections if c.transport == "tcp"}
        assert None not in ours, name
        theirs = _tshark_ids(path)
        assert ours and ours <= theirs, f"{name}: ours {sorted(ours - theirs)} not among tshark's"
        compared += len(ours)
    assert compared >= len(VERDICTS)


def test_the_verbose_table_shows_each_connections_community_id(corpus):
    path = str(corpus / "http1-browse-workshop2011-zeek.pcap")
    proc = subprocess.run([sys.executable, "-m", "analysis", "check", "-v", path], capture_output=True, text=True,
                          timeout=120)
    ids = {c.community_id for c in analyse(path).connections}
    assert len(ids) == 6
    for cid in ids:
        assert cid in proc.stdout


def test_the_junit_body_names_the_failing_connections_community_id(corpus, tmp_path):
    from tests.test_mixed_captures import merge, unpromised_h2

    h2, _ = unpromised_h2(tmp_path)
    merged = merge(tmp_path, "m.pcapng", corpus / "ws-arkime.pcap", h2)
    out = tmp_path / "j.xml"
    proc = subprocess.run([sys.executable, "-m", "analysis", "check", "--quiet", "--junit", str(out), merged],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    failing = [c for c in analyse(merged).connections if c.verdict == "fail"]
    assert failing
    body = out.read_text()
    for c in failing:
        assert f"community_id {c.community_id}" in body
