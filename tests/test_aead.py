"""The OpenSSL lane (analysis/wire/_aead.pyx: one cipher context per key) against ``cryptography``, which the pure
path uses: the same plaintexts, the same failure (InvalidTag) on a damaged tag, a damaged ciphertext or a wrong key,
the same header-protection masks; RFC 9001 Appendix A's packets opened by both; the contexts freed with their keys;
each with the nonce and tag set as with OpenSSL 3 and as with OpenSSL 1.1; and ``check -j 2`` (results pickled
across processes) on QUIC captures printing what one process prints.

The extension exists only compiled. Where it is not built in the tree under test, these tests fail when a C compiler
is at hand or under CI (as tests/test_compiled.py does) and are skipped, with the reason, only where none is: an
install then gives the pure path. Under ``DUPLEXLAB_PURE=1`` the package does not use it, and the tests load it
themselves: the lane is held to ``cryptography`` on both runs of the suite.
"""

from __future__ import annotations

import gc
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from analysis.wire import quiccrypto
from analysis.wire.quiccrypto import Keys, Unopenable, decode_packet_number, initial_keys, unprotect
from tests.built import native

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", params=["openssl3", "openssl1.1"])
def aead(request):
    """The extension module, its contexts setting each packet's nonce and tag in one call as with OpenSSL 3
    (EVP_CIPHER_CTX_set_params, where libcrypto has it) and as with OpenSSL 1.1 (EVP_DecryptInit_ex, then
    EVP_CIPHER_CTX_ctrl): every test runs both ways."""
    module = _aead_module()
    before = module.set_params_in_use()
    module.set_params_in_use(request.param == "openssl3")
    yield module
    module.set_params_in_use(before)


def _aead_module():
    """The extension module, as the package loads it (or, under DUPLEXLAB_PURE, loaded here from the same file)."""
    return native("wire._aead", "the OpenSSL lane")


def _fails(call, *args) -> type:
    try:
        call(*args)
    except Exception as exc:  # the outcome compared: which exception, or none
        return type(exc)
    return type(None)


@pytest.mark.parametrize("key_len", [16, 32, 24])
def test_aes_gcm_opens_what_cryptography_opens_and_fails_where_it_fails(aead, key_len):
    rng = random.Random(key_len)
    for _ in range(300):
        key, nonce = rng.randbytes(key_len), rng.randbytes(12)
        aad = rng.randbytes(rng.choice([0, 1, 20, 45]))
        plain = rng.randbytes(rng.choice([0, 1, 15, 16, 17, rng.randrange(1, 1500)]))
        sealed = AESGCM(key).encrypt(nonce, plain, aad)
        ours, theirs = aead.AesGcm(key), AESGCM(key)
        assert ours.decrypt(nonce, sealed, aad) == theirs.decrypt(nonce, sealed, aad) == plain
        if not aad:
            assert ours.decrypt(nonce, sealed, None) == plain
        assert ours.decrypt(memoryview(nonce), bytearray(sealed), memoryview(aad)) == plain  # any bytes-like
        damaged = bytearray(sealed)
        damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)  # in the tag, or in the ciphertext
        other_key = rng.randbytes(key_len)
        other_aad = aad + b"\x00"
        for args, with_key in (((nonce, bytes(damaged), aad), key), ((nonce, sealed, aad), other_key),
                               ((nonce, sealed, other_aad), key), ((rng.randbytes(12), sealed, aad), key),
                               ((nonce, sealed[:rng.randrange(16)], aad), key)):
            assert _fails(aead.AesGcm(with_key).decrypt, *args) is InvalidTag
            assert _fails(AESGCM(with_key).decrypt, *args) is InvalidTag
        # the context a failure left opens the next packet: the same object, packet after packet
        assert ours.decrypt(nonce, sealed, aad) == plain


def test_one_context_opens_packet_after_packet_whatever_failed_between(aead):
    rng = random.Random(7)
    key = rng.randbytes(16)
    ours = aead.AesGcm(key)
    for pn in range(500):
        nonce = pn.to_bytes(12, "big")
        plain = rng.randbytes(rng.randrange(0, 300))
        sealed = AESGCM(key).encrypt(nonce, plain, b"hdr%d" % pn)
        if pn % 3 == 0:
            with pytest.raises(InvalidTag):
                ours.decrypt(nonce, sealed[:-1] + bytes([sealed[-1] ^ 0x80]), b"hdr%d" % pn)
        assert ours.decrypt(nonce, sealed, b"hdr%d" % pn) == plain


def test_bad_arguments_are_refused_as_cryptography_refuses_them(aead):
    for key_len in (0, 15, 17, 31, 33):
        assert _fails(aead.AesGcm, bytes(key_len)) is ValueError
        assert _fails(AESGCM, bytes(key_len)) is ValueError
        assert _fails(aead.AesEcb, bytes(key_len)) is ValueError
    with pytest.raises(TypeError):
        aead.AesGcm("not bytes")
    with pytest.raises(ValueError):
        aead.AesGcm(bytes(16)).decrypt(bytes(8), bytes(32), b"")  # QUIC and TLS nonces are 12 bytes
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(aead.AesGcm(bytes(16)))  # a C pointer: never sent between processes


@pytest.mark.parametrize("key_len", [16, 32, 24])
def test_header_protection_masks_are_cryptographys(aead, key_len):
    rng = random.Random(100 + key_len)
    for _ in range(300):
        key = rng.randbytes(key_len)
        ours, theirs = aead.AesEcb(key), Cipher(algorithms.AES(key), modes.ECB()).encryptor()
        for blocks in (1, 1, 3):
            sample = rng.randbytes(16 * blocks)
            assert ours.update(sample) == theirs.update(sample)
    with pytest.raises(ValueError):
        aead.AesEcb(bytes(16)).update(bytes(5))  # whole blocks only: the masks take one


# RFC 9001 Appendix A.3: the server's Initial (AES-128-GCM), keys from the client's DCID 0x8394c8f03e515708
_A3_DCID = bytes.fromhex("8394c8f03e515708")
_A3_PACKET = bytes.fromhex(
    "cf000000010008f067a5502a4262b5004075c0d95a482cd0991cd25b0aac406a"
    "5816b6394100f37a1c69797554780bb38cc5a99f5ede4cf73c3ec2493a1839b3"
    "dbcba3f6ea46c5b7684df3548e7ddeb9c3bf9c73cc3f3bded74b562bfb19fb84"
    "022f8ef4cdd93795d77d06edbb7aaf2f58891850abbdca3d20398c276456cbc4"
    "2158407dd074ee")
_A3_HEADER = bytes.fromhex("c1000000010008f067a5502a4262b50040750001")
_A3_PAYLOAD = bytes.fromhex(
    "02000000000600405a020000560303eefce7f7b37ba1d1632e96677825ddf739"
    "88cfc79825df566dc5430b9a045a1200130100002e00330024001d00209d3c94"
    "0d89690b84d08a60993c144eca684d1081287c834d5311bcf32bb9da1a002b00"
    "020304")
# Appendix A.5: a short header packet protected with ChaCha20-Poly1305 (which stays with cryptography)
_A5_SECRET = bytes.fromhex("9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b")
_A5_PACKET = bytes.fromhex("4cfe4189655e5cd55c41f69080575d7999c25a5bfb")


def _open_general(keys: Keys, packet: bytes, pn_offset: int, long: bool, largest: int = -1) -> tuple[bytes, int, bytes]:
    header, truncated, pn_len, _ = unprotect(keys, packet, pn_offset, long)
    pn = decode_packet_number(truncated, pn_len, largest)
    return header, pn, keys.open(pn, header, packet[pn_offset + pn_len:])


@pytest.fixture(params=["openssl", "cryptography"])
def lane(request, aead, monkeypatch):
    """quiccrypto with the OpenSSL lane, then with cryptography (what the pure path runs)."""
    native = (aead.AesGcm, aead.AesEcb, aead.ShortLane, aead.RecordLane)
    monkeypatch.setattr(quiccrypto, "_NATIVE", [native, ""] if request.param == "openssl" else [None, "cryptography"])
    return request.param


def test_rfc9001_appendix_a_packets_open_in_both_lanes(lane, aead):
    _, server = initial_keys(_A3_DCID)
    assert server.key.hex() == "cf3a5331653c364c88f0f379b6067e37"
    assert server.mask(_A3_PACKET[22:38]) == bytes.fromhex("2ec0d8356a")  # A.3's mask
    assert _open_general(server, _A3_PACKET, 18, True) == (_A3_HEADER, 1, _A3_PAYLOAD)
    assert isinstance(server._aead, aead.AesGcm) is (lane == "openssl")
    assert isinstance(server._ecb, aead.AesEcb) is (lane == "openssl")
    chacha = Keys.from_secret(_A5_SECRET, 0x1303)
    assert _open_general(chacha, _A5_PACKET, 1, False, 654360563) == (bytes.fromhex("4200bff4"), 654360564, b"\x01")
    damaged = _A3_PACKET[:-1] + bytes([_A3_PACKET[-1] ^ 1])
    with pytest.raises(Unopenable):
        _open_general(initial_keys(_A3_DCID)[1], damaged, 18, True)


def _short_packet(rng: random.Random, sealer: Keys, pn: int, pn_len: int, dcid_len: int, phase: int) -> bytes:
    """A 1-RTT packet sealed and protected with cryptography (RFC 9001 §5.3-5.4)."""
    truncated = (pn & ((1 << 8 * pn_len) - 1)).to_bytes(pn_len, "big")
    header = bytes([0x40 | phase << 2 | (pn_len - 1)]) + rng.randbytes(dcid_len) + truncated
    nonce = (int.from_bytes(sealer.iv, "big") ^ pn).to_bytes(12, "big")
    body = AESGCM(sealer.key).encrypt(nonce, rng.randbytes(rng.randrange(4 - pn_len + 16, 900)), header)
    sample_at = 4 - pn_len
    mask = Cipher(algorithms.AES(sealer.hp), modes.ECB()).encryptor().update(body[sample_at:sample_at + 16])
    pn_bytes = bytes(b ^ m for b, m in zip(truncated, mask[1:1 + pn_len], strict=True))
    return bytes([header[0] ^ (mask[0] & 0x1F)]) + header[1:1 + dcid_len] + pn_bytes + body


@pytest.mark.parametrize("suite", [0x1301, 0x1302])
def test_the_short_header_fast_lane_gives_the_same_in_both_lanes(aead, monkeypatch, suite):
    """``Keys.open_short`` (ShortLane in C with OpenSSL's contexts, quiccrypto's ``_open_short`` with cryptography's)
    on 1-RTT packets of every packet number length and connection id length: opened alike, or handed alike to the
    general way (None) when the tag, the key phase or the packet number's window is wrong; and what opens is what
    the general way (unprotect, decode_packet_number, open) gives."""
    rng = random.Random(suite)
    secret = rng.randbytes(32 if suite == 0x1301 else 48)
    sealer = Keys.from_secret(secret, suite)
    cases = []
    for _ in range(400):
        pn_len, dcid_len, phase = rng.randint(1, 4), rng.choice([0, 4, 8, 20]), rng.randint(0, 1)
        win = 1 << 8 * pn_len
        pn = rng.choice([rng.randrange(0, 300), rng.randrange(0, 1 << 40), (1 << 62) - 1 - rng.randrange(300)])
        largest = max(-1, rng.choice([pn - 1, pn - rng.randrange(1, win // 2), pn + rng.randrange(0, win // 2 - 1),
                                      pn - win, -1]))  # the last two: mostly outside the window, a wrong number
        packet = _short_packet(rng, sealer, pn, pn_len, dcid_len, phase)
        if rng.random() < 0.2:
            packet = packet[:-1] + bytes([packet[-1] ^ 1])
        cases.append((packet, 1 + dcid_len, largest, phase))
    cases.append((cases[0][0][:cases[0][1] + 19], *cases[0][1:]))  # too short to sample
    results = {}
    for lane in ("openssl", "cryptography"):
        monkeypatch.setattr(quiccrypto, "_NATIVE", [(aead.AesGcm, aead.AesEcb, aead.ShortLane, aead.RecordLane), ""]
                            if lane == "openssl" else [None, "cryptography"])
        keys = Keys.from_secret(secret, suite)
        assert keys.open_short(cases[0][0], *cases[0][1:]) is None  # no context made yet: the general way
        keys.mask(bytes(16))
        keys.open(0, b"", AESGCM(keys.key).encrypt(keys.iv, b"", b""))  # the contexts made, as the reader does
        assert (keys._lane is not None) is (lane == "openssl")
        results[lane] = [(keys.open_short(p, at, largest, phase), keys.open_short(p, at, largest, 1 - phase))
                         for p, at, largest, phase in cases]
        general = []
        for p, at, largest, _ in cases:
            try:
                header, truncated, pn_len, _ = unprotect(keys, p, at, False)
                pn = decode_packet_number(truncated, pn_len, largest)
                general.append((pn, keys.open(pn, header, p[at + pn_len:])))
            except Unopenable:
                general.append(None)
        assert [r[0] for r in results[lane]] == general
    assert results["openssl"] == results["cryptography"]
    opened = sum(r[0] is not None for r in results["openssl"])
    assert 150 < opened < len(cases) - 50, opened  # both outcomes, many times
    assert all(r[1] is None for r in results["openssl"])  # the other key phase: the general way


@pytest.mark.parametrize("suite", [0x1301, 0x1302])
def test_the_tls13_record_lane_opens_as_the_general_way(aead, monkeypatch, suite):
    """``Tls13Keys.open_record`` (RecordLane in C on OpenSSL's context, ``open`` with cryptography's) on a run of
    records with and without padding, holding zeros only or nothing, damaged, cut below a tag, or sealed under another
    sequence number: the same content type and plaintext, the same BadRecord, the same sequence count after each."""
    from analysis.wire.tls import TLS13_SUITES, BadRecord, Tls13Keys

    rng = random.Random(suite)
    secret = rng.randbytes(32 if suite == 0x1301 else 48)
    _, key_len, hash_name = TLS13_SUITES[suite]
    sealer = AESGCM(quiccrypto.hkdf_expand_label(secret, "key", key_len, hash_name))
    iv = int.from_bytes(quiccrypto.hkdf_expand_label(secret, "iv", 12, hash_name), "big")
    records, seq = [], 0
    for _ in range(400):
        kind = rng.choice(["plain"] * 6 + ["padded", "zeros", "empty", "damaged", "short", "wrong seq"])
        inner = {"plain": rng.randbytes(rng.randrange(0, 400)) + bytes([rng.choice([21, 22, 23])]),
                 "padded": rng.randbytes(rng.randrange(0, 50)) + b"\x17" + bytes(rng.randrange(1, 40)),
                 "zeros": bytes(rng.randrange(1, 30)), "empty": b""}.get(kind, b"data\x17")
        header = b"\x17\x03\x03" + (len(inner) + 16).to_bytes(2, "big")
        sealed = sealer.encrypt((iv ^ (seq + (kind == "wrong seq"))).to_bytes(12, "big"), inner, header)
        if kind == "damaged":
            sealed = bytearray(sealed)
            sealed[rng.randrange(len(sealed))] ^= 1 << rng.randrange(8)
            sealed = bytes(sealed)
        elif kind == "short":
            sealed = sealed[:rng.randrange(16)]
        records.append(header + sealed)
        seq += kind in ("plain", "padded", "zeros", "empty")  # the records that open (with content or not)
    results = {}
    for lane in ("openssl", "cryptography"):
        monkeypatch.setattr(quiccrypto, "_NATIVE", [(aead.AesGcm, aead.AesEcb, aead.ShortLane, aead.RecordLane), ""]
                            if lane == "openssl" else [None, "cryptography"])
        keys = Tls13Keys(secret, suite)
        assert (keys.lane is not None) is (lane == "openssl")
        results[lane] = []
        for record in records:
            try:
                got = keys.open_record(record)
            except BadRecord:
                got = BadRecord
            results[lane].append((got, keys.seq))
        if lane == "openssl":  # not bytes: the general way, with the same answer
            k = next(i for i, (got, _) in enumerate(results[lane]) if got is not BadRecord)
            keys.seq = results[lane][k - 1][1] if k else 0
            assert keys.open_record(bytearray(records[k])) == results[lane][k][0]
    assert results["openssl"] == results["cryptography"]
    outcomes = [got if got is BadRecord else got[0] for got, _ in results["openssl"]]
    assert outcomes.count(BadRecord) > 60 and {21, 22, 23} <= set(outcomes), outcomes  # every kind, many times
    assert results["openssl"][-1][1] == seq


def test_contexts_live_as_long_as_their_keys(aead, monkeypatch):
    monkeypatch.setattr(quiccrypto, "_NATIVE", [(aead.AesGcm, aead.AesEcb, aead.ShortLane, aead.RecordLane), ""])
    gc.collect()
    before = aead.live()
    keys = Keys.from_secret(bytes(32), 0x1301)
    keys.mask(bytes(16))
    keys.open(0, b"", AESGCM(keys.key).encrypt(keys.iv, b"", b""))
    assert aead.live() == before + 2
    for _ in range(50):  # key updates: each generation's contexts go with it
        keys = keys.next_phase()
        keys.mask(bytes(16))
        keys.open(0, b"", AESGCM(keys.key).encrypt(keys.iv, b"", b""))
        assert aead.live() == before + 2
    del keys
    assert aead.live() == before


def test_the_package_uses_the_lane_unless_told_not_to(aead):
    said = {pure: subprocess.run([sys.executable, "-m", "analysis", "--version"], cwd=ROOT, capture_output=True,
                                 text=True, timeout=120, env={**os.environ, "DUPLEXLAB_PURE": pure}).stdout
            for pure in ("0", "1")}
    assert said["0"].rstrip().endswith("QUIC/TLS AES-GCM: OpenSSL contexts"), said
    assert said["1"].rstrip().endswith("QUIC/TLS AES-GCM: cryptography (DUPLEXLAB_PURE is set)"), said


def test_check_with_two_processes_on_quic_captures_prints_what_one_prints(aead, tmp_path):
    """Results cross processes (pickled) with -j 2; the keys and their contexts stay in the reader."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from make_capture import write_h3

    sys.path.pop(0)
    from tests.quicpeers import key_update

    write_h3(300, str(tmp_path / "h3.pcapng"))
    files = [str(tmp_path / "h3.pcapng"), key_update(tmp_path / "ku.pcapng"),
             str(ROOT / "tests/fixtures/fragments/quic-fragmented.pcapng")]
    runs = [subprocess.run([sys.executable, "-m", "analysis", "check", "--json", "-j", jobs, *files], cwd=ROOT,
                           capture_output=True, text=True, timeout=300) for jobs in ("1", "2")]
    assert runs[0].returncode == runs[1].returncode and runs[1].stderr == runs[0].stderr, runs[1].stderr[-2000:]
    assert '"http3' in runs[0].stdout
    assert runs[1].stdout == runs[0].stdout
