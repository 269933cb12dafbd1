# cython: language_level=3
"""AES-GCM opening and AES-ECB header-protection masks through OpenSSL's EVP interface, one cipher context per key.

``cryptography``'s AESGCM makes, copies and frees an OpenSSL cipher context on every call, behind PyO3's call: on a
QUIC capture that costs several times the decryption itself. Here a key's context is made once (cipher and key set,
the AES key schedule expanded) and kept with the key (quiccrypto's ``Keys``, tls's record keys): per packet only the
nonce is set, the associated data fed, the payload decrypted, the tag set and checked. Freed with its owner
(``__dealloc__``), so a key update leaves one context per live key. ``ShortLane`` runs quiccrypto's 1-RTT fast lane
(header protection off, packet number decoded, payload opened) in C on a key's two contexts, and ``RecordLane``
tls's TLS 1.3 record opening on a key's AES-GCM context. ChaCha20-Poly1305
stays with ``cryptography``.

An extension only, no .py twin (analysis/_speed.py's NATIVE): setup.py builds it where a C compiler is at hand, and
where it is not built, is stale, or ``DUPLEXLAB_PURE`` is set, importing it fails and quiccrypto keeps
``cryptography``. libcrypto is neither included nor linked at build time: the few EVP functions are declared here
and looked up at import with dlopen/dlsym ("libcrypto.so.3", then "libcrypto.so"); no library, a missing symbol or
a wrong answer to the known-answer tests below makes the import fail with ImportError, and the same fallback runs.

The objects are not picklable (a C pointer): they live in the readers' keys, which never cross processes.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.string cimport memcpy, memset

cdef extern from "<dlfcn.h>" nogil:
    void *dlopen(const char *filename, int flags)
    void *dlsym(void *handle, const char *symbol)
    int RTLD_NOW
    int RTLD_LOCAL

cdef extern from *:
    """
    struct duplexlab_evp_cipher_ctx;  /* OpenSSL's EVP_CIPHER_CTX and EVP_CIPHER, opaque: only pointers pass */
    struct duplexlab_evp_cipher;
    """
    ctypedef struct EVP_CIPHER_CTX "struct duplexlab_evp_cipher_ctx"
    ctypedef struct EVP_CIPHER "struct duplexlab_evp_cipher"

# The prototypes of libcrypto's functions used (the same in OpenSSL 1.1 and 3)
ctypedef EVP_CIPHER_CTX *(*ctx_new_f)() noexcept nogil
ctypedef void (*ctx_free_f)(EVP_CIPHER_CTX *ctx) noexcept nogil
ctypedef const EVP_CIPHER *(*cipher_f)() noexcept nogil
ctypedef int (*init_f)(EVP_CIPHER_CTX *ctx, const EVP_CIPHER *cipher, void *engine, const unsigned char *key,
                       const unsigned char *iv) noexcept nogil
ctypedef int (*update_f)(EVP_CIPHER_CTX *ctx, unsigned char *out, int *outl, const unsigned char *inp,
                         int inl) noexcept nogil
ctypedef int (*final_f)(EVP_CIPHER_CTX *ctx, unsigned char *out, int *outl) noexcept nogil
ctypedef int (*ctrl_f)(EVP_CIPHER_CTX *ctx, int type, int arg, void *ptr) noexcept nogil
ctypedef int (*padding_f)(EVP_CIPHER_CTX *ctx, int pad) noexcept nogil

# OpenSSL 3's OSSL_PARAM (openssl/core.h), for EVP_CIPHER_CTX_set_params: the nonce and the tag of a packet handed to
# the GCM provider in one call (see _gcm_open). OpenSSL 1.1 has no such call: there, the nonce goes through
# EVP_DecryptInit_ex and the tag through EVP_CIPHER_CTX_ctrl, as everywhere before.
cdef struct ossl_param:
    const char *key
    unsigned int data_type
    void *data
    size_t data_size
    size_t return_size
ctypedef int (*set_params_f)(EVP_CIPHER_CTX *ctx, const ossl_param *params) noexcept nogil

cdef enum:
    EVP_CTRL_GCM_SET_TAG = 0x11  # EVP_CTRL_AEAD_SET_TAG (openssl/evp.h)
    OSSL_PARAM_OCTET_STRING = 5  # openssl/core.h
    TAG_LEN = 16
    NONCE_LEN = 12  # GCM's default IV length in OpenSSL, and the only one QUIC and TLS use

LIBRARIES = ("libcrypto.so.3", "libcrypto.so")

cdef ctx_new_f ctx_new
cdef ctx_free_f ctx_free
cdef init_f decrypt_init, encrypt_init
cdef update_f decrypt_update, encrypt_update
cdef final_f decrypt_final
cdef ctrl_f ctx_ctrl
cdef padding_f set_padding
cdef set_params_f set_params = NULL  # OpenSSL 3 (and its known answers right: _known_answers), else NULL
cdef set_params_f found_set_params = NULL  # what libcrypto has (``set_params_in_use``)
cdef const EVP_CIPHER *GCM[3]  # by key length: 16, 24, 32 bytes
cdef const EVP_CIPHER *ECB[3]
cdef Py_ssize_t _live = 0  # contexts made and not yet freed (tests hold them to the keys alive)


cdef void *_symbol(void *lib, bytes name) except NULL:
    cdef void *p = dlsym(lib, name)
    if p == NULL:
        raise ImportError(f"libcrypto has no {name.decode()}")
    return p


cdef const EVP_CIPHER *_cipher(void *lib, bytes name) except NULL:
    cdef const EVP_CIPHER *c = (<cipher_f>_symbol(lib, name))()
    if c == NULL:
        raise ImportError(f"libcrypto's {name.decode()} gives no cipher")
    return c


cdef _load():
    global ctx_new, ctx_free, decrypt_init, encrypt_init, decrypt_update, encrypt_update, decrypt_final, ctx_ctrl
    global set_padding, set_params, found_set_params
    cdef void *lib = NULL
    for name in LIBRARIES:
        lib = dlopen(name.encode(), RTLD_NOW | RTLD_LOCAL)
        if lib != NULL:
            break
    if lib == NULL:
        raise ImportError(f"no libcrypto to load ({' or '.join(LIBRARIES)})")
    ctx_new = <ctx_new_f>_symbol(lib, b"EVP_CIPHER_CTX_new")
    ctx_free = <ctx_free_f>_symbol(lib, b"EVP_CIPHER_CTX_free")
    decrypt_init = <init_f>_symbol(lib, b"EVP_DecryptInit_ex")
    encrypt_init = <init_f>_symbol(lib, b"EVP_EncryptInit_ex")
    decrypt_update = <update_f>_symbol(lib, b"EVP_DecryptUpdate")
    encrypt_update = <update_f>_symbol(lib, b"EVP_EncryptUpdate")
    decrypt_final = <final_f>_symbol(lib, b"EVP_DecryptFinal_ex")
    ctx_ctrl = <ctrl_f>_symbol(lib, b"EVP_CIPHER_CTX_ctrl")
    set_padding = <padding_f>_symbol(lib, b"EVP_CIPHER_CTX_set_padding")
    set_params = found_set_params = <set_params_f>dlsym(lib, b"EVP_CIPHER_CTX_set_params")  # NULL before OpenSSL 3
    for i, bits in enumerate((128, 192, 256)):
        GCM[i] = _cipher(lib, f"EVP_aes_{bits}_gcm".encode())
        ECB[i] = _cipher(lib, f"EVP_aes_{bits}_ecb".encode())


cdef int _key_index(Py_ssize_t n) except -1:
    if n == 16:
        return 0
    if n == 24:
        return 1
    if n == 32:
        return 2
    raise ValueError("AES keys are 128, 192 or 256 bits")


cdef struct Bytes:
    # a read-only view of a bytes-like argument: bytes read in place, anything else through the buffer protocol
    Py_buffer view
    bint held
    const unsigned char *ptr
    Py_ssize_t len


cdef inline int take(Bytes *b, object obj) except -1:
    b.held = False
    if PyBytes_CheckExact(obj):
        b.ptr, b.len = <const unsigned char *>PyBytes_AS_STRING(obj), PyBytes_GET_SIZE(obj)
        return 0
    PyObject_GetBuffer(obj, &b.view, PyBUF_SIMPLE)
    b.held = True
    b.ptr, b.len = <const unsigned char *>b.view.buf, b.view.len
    return 0


cdef inline void release(Bytes *b) noexcept:
    if b.held:
        PyBuffer_Release(&b.view)
        b.held = False


cdef int _invalid_tag() except -1:
    from cryptography.exceptions import InvalidTag  # what cryptography's AESGCM raises: every caller already tells it

    raise InvalidTag()


cdef EVP_CIPHER_CTX *_context(object key, const EVP_CIPHER **ciphers, init_f init) except NULL:
    """A new context holding ``key`` for the cipher of its length."""
    cdef Bytes k
    cdef EVP_CIPHER_CTX *ctx
    cdef const EVP_CIPHER *cipher
    k.held = False
    take(&k, key)
    try:
        cipher = ciphers[_key_index(k.len)]
        ctx = ctx_new()
        if ctx == NULL:
            raise MemoryError()
        if init(ctx, cipher, NULL, k.ptr, NULL) != 1:
            ctx_free(ctx)
            raise RuntimeError("libcrypto could not set an AES key")
        global _live
        _live += 1
        return ctx
    finally:
        release(&k)


cdef void _free(EVP_CIPHER_CTX *ctx) noexcept:
    global _live
    if ctx != NULL:
        ctx_free(ctx)
        _live -= 1


def live() -> int:
    """How many contexts exist now: one per AES key (quiccrypto's and tls's keys) alive."""
    return _live


cdef class AesGcm:
    """``cryptography``'s ``AESGCM(key)`` for opening (``decrypt``), on one OpenSSL context made with the key."""

    cdef EVP_CIPHER_CTX *ctx
    cdef bint by_params  # each packet's nonce and tag set in one EVP_CIPHER_CTX_set_params (OpenSSL 3: _gcm_open)

    def __cinit__(self, key):
        cdef unsigned char fixed[4]
        cdef ossl_param params[2]
        self.ctx = _context(key, GCM, decrypt_init)
        if set_params != NULL:
            # The GCM provider takes a whole nonce as the "invocation field" of a TLS 1.2-style IV once a fixed field
            # was given: given here (4 bytes, replaced whole by each packet's nonce), once for the context's life.
            memset(fixed, 0, 4)
            _param(&params[0], b"tlsivfixed", fixed, 4)
            _param(&params[1], NULL, NULL, 0)
            self.by_params = set_params(self.ctx, params) == 1

    def __dealloc__(self):
        _free(self.ctx)

    def decrypt(self, nonce, data, associated_data):
        """The plaintext of ``data`` (ciphertext then its 16-byte tag) under the 12-byte ``nonce``, authenticated with
        ``associated_data`` (or None); cryptography's InvalidTag when the tag does not match."""
        cdef Bytes n, d, a
        n.held = d.held = a.held = False
        try:
            take(&n, nonce)
            take(&d, data)
            a.ptr, a.len = NULL, 0
            if associated_data is not None:
                take(&a, associated_data)
            if n.len != NONCE_LEN:
                raise ValueError("duplexlab's AES-GCM takes 12-byte nonces")
            if d.len > 0x7FFFFFFF or a.len > 0x7FFFFFFF:
                raise OverflowError("more than 2**31 - 1 bytes in one call")
            out = _gcm_open(self, n.ptr, a.ptr, a.len, d.ptr, d.len)
            if out is None:
                _invalid_tag()
            return out
        finally:
            release(&n)
            release(&d)
            release(&a)


cdef inline void _param(ossl_param *p, const char *key, const void *data, size_t size) noexcept:
    """An octet string parameter (OSSL_PARAM_construct_octet_string), or the end of a list where ``key`` is NULL."""
    p.key, p.data_type, p.data, p.data_size = key, OSSL_PARAM_OCTET_STRING if key != NULL else 0, <void *>data, size
    p.return_size = <size_t>-1 if key != NULL else 0  # OSSL_PARAM_UNMODIFIED


cdef object _gcm_open(AesGcm gcm, const unsigned char *nonce, const unsigned char *aad, Py_ssize_t aad_len,
                      const unsigned char *data, Py_ssize_t data_len):
    """The plaintext of ``data`` (ciphertext, then the tag) under ``nonce`` (12 bytes), or None where the tag does not
    match: per call only the nonce and the tag are set (the key stays in the context), the associated data fed, the
    ciphertext decrypted, the tag checked. Lengths below 2**31.

    With OpenSSL 3 (``by_params``) the nonce and the tag go in one EVP_CIPHER_CTX_set_params: the nonce as the GCM
    provider's "tlsivinv" (its whole IV, set and its counters reset at once, as EVP_DecryptInit_ex with only an IV
    does, without asking the context its IV length each time), the tag as "tag" (what EVP_CTRL_AEAD_SET_TAG becomes
    there, before the data: the tag is read at the end). Else EVP_DecryptInit_ex and EVP_CIPHER_CTX_ctrl."""
    cdef EVP_CIPHER_CTX *ctx = gcm.ctx
    cdef int outl = 0
    cdef Py_ssize_t size = data_len - TAG_LEN
    cdef unsigned char scratch[TAG_LEN]
    cdef ossl_param params[3]
    if size < 0:
        return None
    if gcm.by_params:
        _param(&params[0], b"tlsivinv", nonce, NONCE_LEN)
        _param(&params[1], b"tag", data + size, TAG_LEN)
        _param(&params[2], NULL, NULL, 0)
        if set_params(ctx, params) != 1:
            raise RuntimeError("libcrypto could not set an AES-GCM nonce and tag")
    elif decrypt_init(ctx, NULL, NULL, NULL, nonce) != 1:
        raise RuntimeError("libcrypto could not set an AES-GCM nonce")
    if aad_len and decrypt_update(ctx, NULL, &outl, aad, <int>aad_len) != 1:
        raise RuntimeError("libcrypto could not take the associated data")
    out = PyBytes_FromStringAndSize(NULL, size)
    if size and (decrypt_update(ctx, <unsigned char *>PyBytes_AS_STRING(out), &outl, data, <int>size) != 1
                 or outl != size):
        raise RuntimeError("libcrypto could not decrypt")
    if not gcm.by_params and ctx_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, <void *>(data + size)) != 1:
        raise RuntimeError("libcrypto could not take the tag")
    if decrypt_final(ctx, scratch, &outl) != 1:
        return None
    return out


cdef class AesEcb:
    """``Cipher(algorithms.AES(key), modes.ECB()).encryptor()`` on one OpenSSL context, for whole blocks: the
    header-protection mask of AES suites (RFC 9001 §5.4.3). ECB keeps no state across whole blocks."""

    cdef EVP_CIPHER_CTX *ctx

    def __cinit__(self, key):
        self.ctx = _context(key, ECB, encrypt_init)
        if set_padding(self.ctx, 0) != 1:  # (the context is freed with the object)
            raise RuntimeError("libcrypto could not turn padding off")

    def __dealloc__(self):
        _free(self.ctx)

    def update(self, data):
        """``data`` (whole 16-byte blocks) encrypted."""
        cdef Bytes d
        cdef int outl = 0
        d.held = False
        try:
            take(&d, data)
            if d.len % 16 or d.len > 0x7FFFFFFF:
                raise ValueError("AES-ECB here takes whole 16-byte blocks")
            out = PyBytes_FromStringAndSize(NULL, d.len)
            if d.len and (encrypt_update(self.ctx, <unsigned char *>PyBytes_AS_STRING(out), &outl, d.ptr,
                                         <int>d.len) != 1 or outl != d.len):
                raise RuntimeError("libcrypto could not encrypt")
            return out
        finally:
            release(&d)


cdef enum:
    MAX_HEADER = 64  # a short header's bytes up to its packet number: 1 + a connection id (20 at most in QUIC v1) + 4


cdef class ShortLane:
    """quiccrypto's 1-RTT fast lane (``_open_short``: a short header packet of the current key phase opened in one
    go) in one call on a key's two contexts, with no Python object made but the plaintext and its packet number.
    It does what quiccrypto's ``_open_short`` and ``decode_packet_number`` do (tests/test_aead.py holds them equal,
    and tests/test_quic_fast_paths.py the lane to the general way), so a packet it declines (None) is one that the
    general way reads, as it would: too short to sample, the other key phase, a payload that does not open."""

    cdef AesGcm gcm
    cdef AesEcb ecb
    cdef unsigned char iv[NONCE_LEN]

    def __cinit__(self, AesGcm gcm not None, AesEcb ecb not None, bytes iv not None):
        if len(iv) != NONCE_LEN:
            raise ValueError("QUIC IVs are 12 bytes")
        self.gcm, self.ecb = gcm, ecb
        memcpy(self.iv, PyBytes_AS_STRING(iv), NONCE_LEN)

    def open_short(self, bytes packet not None, Py_ssize_t pn_offset, long long largest, int phase):
        """(packet number, plaintext) of ``packet`` (its header ending at ``pn_offset`` + the packet number), the
        number decoded against ``largest`` (RFC 9000 §A.3); None where the general way must read it."""
        cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(packet)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(packet)
        cdef unsigned char mask[16]
        cdef unsigned char header[MAX_HEADER]
        cdef unsigned char nonce[NONCE_LEN]
        cdef int outl = 0, first, pn_len, i
        cdef long long truncated = 0, pn, expected, win, hwin, candidate
        if pn_offset < 1 or n < pn_offset + 20 or pn_offset + 4 > MAX_HEADER or n > 0x7FFFFFFF:
            return None
        if encrypt_update(self.ecb.ctx, mask, &outl, p + pn_offset + 4, 16) != 1 or outl != 16:
            raise RuntimeError("libcrypto could not encrypt")
        first = p[0] ^ (mask[0] & 0x1F)
        if (first >> 2) & 1 != phase:
            return None
        pn_len = (first & 0x03) + 1
        header[0] = <unsigned char>first
        memcpy(header + 1, p + 1, pn_offset - 1)
        for i in range(pn_len):
            header[pn_offset + i] = p[pn_offset + i] ^ mask[1 + i]
            truncated = truncated << 8 | header[pn_offset + i]
        # the packet number (quiccrypto.decode_packet_number)
        expected = largest + 1
        win = (<long long>1) << (pn_len * 8)
        hwin = win // 2
        candidate = (expected & ~(win - 1)) | truncated
        if candidate <= expected - hwin and candidate < ((<long long>1) << 62) - win:
            pn = candidate + win
        elif candidate > expected + hwin and candidate >= win:
            pn = candidate - win
        else:
            pn = candidate
        memcpy(nonce, self.iv, NONCE_LEN)
        for i in range(8):  # the IV XOR the packet number, big-endian, in its last 8 bytes (RFC 9001 §5.3)
            nonce[NONCE_LEN - 1 - i] ^= <unsigned char>((pn >> (8 * i)) & 0xFF)
        plain = _gcm_open(self.gcm, nonce, header, pn_offset + pn_len, p + pn_offset + pn_len,
                          n - pn_offset - pn_len)
        if plain is None:
            return None
        return pn, plain



cdef class RecordLane:
    """tls's TLS 1.3 record opening (``Tls13Keys.open``, RFC 8446 §5.2-5.4) in one call on a key's AES-GCM context:
    the nonce is the IV XOR the record's sequence number, the associated data the record's 5-byte header, the
    ciphertext read in place from the whole record, and the inner plaintext's padding and content type taken off.
    tests/test_aead.py holds it to the general way on opened, padded, empty, damaged and short records."""

    cdef AesGcm gcm
    cdef unsigned char iv[NONCE_LEN]

    def __cinit__(self, AesGcm gcm not None, bytes iv not None):
        if len(iv) != NONCE_LEN:
            raise ValueError("TLS 1.3 IVs are 12 bytes")
        self.gcm = gcm
        memcpy(self.iv, PyBytes_AS_STRING(iv), NONCE_LEN)

    def open_record(self, bytes record not None, unsigned long long seq):
        """(content type, content) of ``record`` (header and fragment) as record number ``seq``; 0 where it opens
        but holds no content type (zeros only, RFC 8446 §5.4); None where it does not open (the tag, or too short)."""
        cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(record)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(record), size
        cdef const unsigned char *q
        cdef unsigned char nonce[NONCE_LEN]
        cdef int i
        if n < 5 or n > 0x7FFFFFFF:
            return None
        memcpy(nonce, self.iv, NONCE_LEN)
        for i in range(8):  # the IV XOR the sequence number, big-endian, in its last 8 bytes (RFC 8446 §5.3)
            nonce[NONCE_LEN - 1 - i] ^= <unsigned char>((seq >> (8 * i)) & 0xFF)
        inner = _gcm_open(self.gcm, nonce, p, 5, p + 5, n - 5)
        if inner is None:
            return None
        q = <const unsigned char *>PyBytes_AS_STRING(inner)
        size = PyBytes_GET_SIZE(inner)
        while size and not q[size - 1]:
            size -= 1
        if not size:
            return 0
        return q[size - 1], PyBytes_FromStringAndSize(<const char *>q, size - 1)

def _gcm_answers() -> bool:
    """The GCM specification's test cases 2 and 4 (McGrew and Viega) opened on one context, each after a damaged copy
    of it (its tag refused), in turn, twice: the nonce, the associated data and the tag of each call are its own."""
    key4, nonce4 = bytes.fromhex("feffe9928665731c6d6a8f9467308308"), bytes.fromhex("cafebabefacedbaddecaf888")
    aad4 = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
    plain4 = bytes.fromhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e24"
                           "49a6b525b16aedf5aa0de657ba637b39")
    sealed4 = bytes.fromhex("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5a"
                            "ac84aa051ba30b396a0aac973d58e0915bc94fbc3221a5db94fae95ae7121a47")
    sealed2 = bytes.fromhex("0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf")
    cases = ((AesGcm(bytes(16)), bytes(12), sealed2, None, bytes(16)), (AesGcm(key4), nonce4, sealed4, aad4, plain4))
    for _ in range(2):
        for gcm, nonce, sealed, aad, plain in cases:
            damaged = sealed[:-1] + bytes([sealed[-1] ^ 1])
            if _gcm_open_bytes(gcm, nonce, damaged, aad) is not None or _gcm_open_bytes(gcm, nonce, sealed,
                                                                                         aad) != plain:
                return False
    return True


cdef object _gcm_open_bytes(AesGcm gcm, bytes nonce, bytes sealed, bytes aad):
    cdef const unsigned char *a = NULL
    if aad is not None:
        a = <const unsigned char *>PyBytes_AS_STRING(aad)
    return _gcm_open(gcm, <const unsigned char *>PyBytes_AS_STRING(nonce), a, 0 if aad is None else len(aad),
                     <const unsigned char *>PyBytes_AS_STRING(sealed), len(sealed))


def _known_answers() -> None:
    """FIPS-197 C.1 (AES-128) and the GCM specification's test cases 2 and 4 (McGrew and Viega): a library that
    answers otherwise is not used. Where OpenSSL 3's one call for the nonce and tag answers otherwise, it is not used
    (``set_params``), and the way of OpenSSL 1.1 must answer right."""
    global set_params, found_set_params
    ecb = AesEcb(bytes.fromhex("000102030405060708090a0b0c0d0e0f"))
    if ecb.update(bytes.fromhex("00112233445566778899aabbccddeeff")) != bytes.fromhex(
            "69c4e0d86a7b0430d8cdb78070b4c55a"):
        raise ImportError("libcrypto's AES-ECB gives a wrong answer")
    if set_params != NULL and not _gcm_answers():
        set_params = found_set_params = NULL
    if not _gcm_answers():
        raise ImportError("libcrypto's AES-GCM gives a wrong answer")


def set_params_in_use(on=None) -> bool:
    """Whether the contexts made from now on set each packet's nonce and tag in one EVP_CIPHER_CTX_set_params
    (OpenSSL 3); ``on`` False makes them take OpenSSL 1.1's way, True OpenSSL 3's where libcrypto has it (tests hold
    both to ``cryptography``)."""
    global set_params
    if on is not None:
        set_params = found_set_params if on else NULL
    return set_params != NULL


_load()
_known_answers()
