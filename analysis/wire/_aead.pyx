# cython: language_level=3
"""AES-GCM opening and AES-ECB header-protection masks through OpenSSL's EVP interface, one cipher context per key.

``cryptography``'s AESGCM makes, copies and frees an OpenSSL cipher context on every call, behind PyO3's call: on a
QUIC capture that costs several times the decryption itself. Here a key's context is made once (cipher and key set,
the AES key schedule expanded) and kept with the key (quiccrypto's ``Keys``, tls's record keys): per packet only the
nonce is set, the associated data fed, the payload decrypted, the tag set and checked. Freed with its owner
(``__dealloc__``), so a key update leaves one context per live key.

An extension only, no .py twin (analysis/_speed.py's NATIVE): setup.py builds it where a C compiler is at hand, and
where it is not built, is stale, or ``DUPLEXLAB_PURE`` is set, importing it fails and quiccrypto keeps
``cryptography``. libcrypto is neither included nor linked at build time: the few EVP functions are declared here
and looked up at import with dlopen/dlsym ("libcrypto.so.3", then "libcrypto.so"); no library, a missing symbol or
a wrong answer to the known-answer tests below makes the import fail with ImportError, and the same fallback runs.

The objects are not picklable (a C pointer): they live in the readers' keys, which never cross processes.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE

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

cdef enum:
    EVP_CTRL_GCM_SET_TAG = 0x11  # EVP_CTRL_AEAD_SET_TAG (openssl/evp.h)
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
    global set_padding
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

    def __cinit__(self, key):
        self.ctx = _context(key, GCM, decrypt_init)

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
            a.len = 0
            if associated_data is not None:
                take(&a, associated_data)
            return self._open(&n, &d, &a)
        finally:
            release(&n)
            release(&d)
            release(&a)

    cdef bytes _open(self, Bytes *n, Bytes *d, Bytes *a):
        cdef int outl = 0
        cdef Py_ssize_t size = d.len - TAG_LEN
        cdef unsigned char scratch[TAG_LEN]
        cdef unsigned char *o = scratch
        if n.len != NONCE_LEN:
            raise ValueError("duplexlab's AES-GCM takes 12-byte nonces")
        if size < 0:
            _invalid_tag()
        if d.len > 0x7FFFFFFF or a.len > 0x7FFFFFFF:
            raise OverflowError("more than 2**31 - 1 bytes in one call")
        if decrypt_init(self.ctx, NULL, NULL, NULL, n.ptr) != 1:  # the key stays: only the nonce is set
            raise RuntimeError("libcrypto could not set an AES-GCM nonce")
        if a.len and decrypt_update(self.ctx, NULL, &outl, a.ptr, <int>a.len) != 1:
            raise RuntimeError("libcrypto could not take the associated data")
        out = PyBytes_FromStringAndSize(NULL, size)
        if size:
            o = <unsigned char *>PyBytes_AS_STRING(out)
            if decrypt_update(self.ctx, o, &outl, d.ptr, <int>size) != 1 or outl != size:
                raise RuntimeError("libcrypto could not decrypt")
        if ctx_ctrl(self.ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, <void *>(d.ptr + size)) != 1:
            raise RuntimeError("libcrypto could not take the tag")
        if decrypt_final(self.ctx, scratch, &outl) != 1:
            _invalid_tag()
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


def _known_answers() -> None:
    """FIPS-197 C.1 (AES-128) and the GCM specification's test case 2 (McGrew and Viega): a library that answers
    otherwise is not used."""
    ecb = AesEcb(bytes.fromhex("000102030405060708090a0b0c0d0e0f"))
    if ecb.update(bytes.fromhex("00112233445566778899aabbccddeeff")) != bytes.fromhex(
            "69c4e0d86a7b0430d8cdb78070b4c55a"):
        raise ImportError("libcrypto's AES-ECB gives a wrong answer")
    gcm = AesGcm(bytes(16))
    sealed = bytes.fromhex("0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf")
    if gcm.decrypt(bytes(12), sealed, None) != bytes(16):
        raise ImportError("libcrypto's AES-GCM gives a wrong answer")


_load()
_known_answers()
