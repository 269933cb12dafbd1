"""lab/secrets.py: keys go into a pcapng and come out again, and nothing else in the file changes."""

from __future__ import annotations

import subprocess

from analysis.pipeline import analyse
from analysis.wire.pcapread import FileFacts, read_frames
from lab.secrets import inject_secrets, strip_secrets
from tests.crafted import C, Conv, S, get, ok


def test_round_trip_keeps_every_other_block(tmp_path):
    c = Conv().handshake()
    c.send(C, get("/"))
    c.send(S, ok())
    plain = (tmp_path / "plain.pcapng")
    c.write(plain, ng=True)
    original = plain.read_bytes()
    keyed = inject_secrets(original, b"CLIENT_RANDOM 00 11\n")
    assert strip_secrets(keyed) == original
    path = tmp_path / "keyed.pcapng"
    path.write_bytes(keyed)
    facts = FileFacts(str(path))
    assert len(list(read_frames(str(path), facts))) == len(c.pkts) and facts.tls_secrets
    out = subprocess.run(["capinfos", str(path)], capture_output=True, text=True, check=True).stdout
    assert "Number of decryption secrets in file: 1" in out


def test_secrets_in_a_plaintext_capture_change_nothing(tmp_path):
    c = Conv().handshake()
    c.send(C, get("/"))
    c.send(S, ok())
    path = tmp_path / "keyed.pcapng"
    plain = tmp_path / "plain.pcapng"
    c.write(plain, ng=True)
    path.write_bytes(inject_secrets(plain.read_bytes(), b"CLIENT_RANDOM 00 11\n"))
    assert analyse(str(path)).verdict == "pass"
