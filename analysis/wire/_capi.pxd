# C helpers the compiled modules share (no module of its own: a module that cimports these compiles them in; setup.py
# and _speed.DECLARED). Each stands, compiled only, for a line of Python that costs more there; the .py calls it under
# its module's ``_COMPILED`` (or ``_TYPED``) flag and otherwise runs that line, and the tests turn the flag off to hold
# one to the other:
# - cut(b, start, end) is b[start:end] of bytes b with 0 <= start (clamped as a slice is), made without a slice object;
# - tuple2(cls, a, b) and tuple7(cls, ...) are tuple.__new__(cls, (the items)) for a subclass of tuple (a NamedTuple):
#   the object allocated by the class's tp_alloc, as tuple.__new__ allocates it, and its items set (new references);
# - item(t, i) is t[i] of a tuple or a subclass's (whose own item read may be a Python-level call: a NamedTuple's is),
#   with 0 <= i < len(t);
# - same(b, at, key) is b[at:at + len(key)] == key of bytes b and key with 0 <= at, compared without a slice made;
# - find(b, sub, start, end) is b.find(sub, start, end) of bytes b and a non-empty sub with 0 <= start;
# - bare_lf(b, start, end) is b"\n" in b[start:end].replace(b"\r\n", b"") with 0 <= start: a line feed in the
#   range that no carriage return before it in the range makes a CRLF;
# - ctl_ws(b, start, end) is any(9 <= c <= 13 for c in b[start:end]) with 0 <= start: a tab, line feed, vertical
#   tab, form feed or carriage return in the range;
# - latin1(b, start, end) is b[start:end].decode("latin-1") with 0 <= start, decoded without the slice made;
# - clear(lst) is lst.clear() of a list (its items let go, the list kept);
# - slot12(b, at, bits) is a hash of the 12 bytes b[at:at + 12] in [0, 2 ** bits) (1 <= bits <= 32), 0 if b is shorter:
#   the three 32-bit words multiplied by odd 64-bit constants, summed, the top bits kept (a cache's set; no Python
#   line stands for it, and nothing is decided by it but where a cache looks);
# - untrack(o) takes o out of the cyclic collector's lists (an object that can be in no reference cycle), which the
#   pure path has no call for: there it is not called.
cdef extern from *:
    """
    static CYTHON_INLINE PyObject *duplexlab_cut(PyObject *b, Py_ssize_t start, Py_ssize_t end) {
        Py_ssize_t n = PyBytes_GET_SIZE(b);
        if (start > n) start = n;
        if (end > n) end = n;
        if (end < start) end = start;
        if (start == 0 && end == n) { Py_INCREF(b); return b; }
        return PyBytes_FromStringAndSize(PyBytes_AS_STRING(b) + start, end - start);
    }
    static CYTHON_INLINE int duplexlab_same(PyObject *b, Py_ssize_t at, PyObject *key) {
        Py_ssize_t n = PyBytes_GET_SIZE(key);
        return at >= 0 && n <= PyBytes_GET_SIZE(b) - at
            && memcmp(PyBytes_AS_STRING(b) + at, PyBytes_AS_STRING(key), (size_t)n) == 0;
    }
    static CYTHON_INLINE Py_ssize_t duplexlab_find(PyObject *b, PyObject *sub, Py_ssize_t start, Py_ssize_t end) {
        const char *s = PyBytes_AS_STRING(b), *k = PyBytes_AS_STRING(sub), *p;
        Py_ssize_t m = PyBytes_GET_SIZE(sub), n = PyBytes_GET_SIZE(b);
        if (end > n) end = n;
        if (start < 0 || m == 0) return -1;
        while (end - start >= m) {
            p = (const char *)memchr(s + start, k[0], (size_t)(end - start - m + 1));
            if (p == NULL) return -1;
            if (memcmp(p, k, (size_t)m) == 0) return p - s;
            start = p - s + 1;
        }
        return -1;
    }
    static CYTHON_INLINE int duplexlab_bare_lf(PyObject *b, Py_ssize_t start, Py_ssize_t end) {
        const char *s = PyBytes_AS_STRING(b), *p;
        Py_ssize_t first = start, n = PyBytes_GET_SIZE(b);
        if (end > n) end = n;
        if (start < 0) return 0;
        while (start < end) {
            p = (const char *)memchr(s + start, 10, (size_t)(end - start));
            if (p == NULL) return 0;
            if (p - s == first || p[-1] != 13) return 1;
            start = p - s + 1;
        }
        return 0;
    }
    static CYTHON_INLINE int duplexlab_ctl_ws(PyObject *b, Py_ssize_t start, Py_ssize_t end) {
        const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(b);
        Py_ssize_t n = PyBytes_GET_SIZE(b), i;
        if (end > n) end = n;
        for (i = start < 0 ? end : start; i < end; i++)
            if ((unsigned char)(s[i] - 9) < 5) return 1;
        return 0;
    }
    static CYTHON_INLINE PyObject *duplexlab_latin1(PyObject *b, Py_ssize_t start, Py_ssize_t end) {
        Py_ssize_t n = PyBytes_GET_SIZE(b);
        if (start > n) start = n;
        if (end > n) end = n;
        if (end < start) end = start;
        return PyUnicode_DecodeLatin1(PyBytes_AS_STRING(b) + start, end - start, NULL);
    }
    static CYTHON_INLINE int duplexlab_clear(PyObject *lst) {
        return PyList_SetSlice(lst, 0, PyList_GET_SIZE(lst), NULL);
    }
    static CYTHON_INLINE Py_ssize_t duplexlab_slot12(PyObject *b, Py_ssize_t at, int bits) {
        uint32_t w[3];
        uint64_t x;
        if (at < 0 || PyBytes_GET_SIZE(b) - at < 12) return 0;
        memcpy(w, PyBytes_AS_STRING(b) + at, 12);
        x = (uint64_t)w[0] * 0x9E3779B97F4A7C15ULL + (uint64_t)w[1] * 0xC2B2AE3D27D4EB4FULL
            + (uint64_t)w[2] * 0x165667B19E3779F9ULL;
        return (Py_ssize_t)(x >> (64 - bits));
    }
    static CYTHON_INLINE PyObject *duplexlab_tuple_of(PyObject *cls, Py_ssize_t n, PyObject **items) {
        PyObject *t;
        Py_ssize_t i;
        if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &PyTuple_Type)) {
            PyErr_SetString(PyExc_TypeError, "not a subclass of tuple");
            return NULL;
        }
        t = ((PyTypeObject *)cls)->tp_alloc((PyTypeObject *)cls, n);
        if (t == NULL) return NULL;
        for (i = 0; i < n; i++) {
            Py_INCREF(items[i]);
            PyTuple_SET_ITEM(t, i, items[i]);
        }
        return t;
    }
    static CYTHON_INLINE PyObject *duplexlab_tuple2(PyObject *cls, PyObject *a, PyObject *b) {
        PyObject *items[2] = {a, b};
        return duplexlab_tuple_of(cls, 2, items);
    }
    static CYTHON_INLINE PyObject *duplexlab_tuple7(PyObject *cls, PyObject *a, PyObject *b, PyObject *c, PyObject *d,
                                      PyObject *e, PyObject *f, PyObject *g) {
        PyObject *items[7] = {a, b, c, d, e, f, g};
        return duplexlab_tuple_of(cls, 7, items);
    }
    static CYTHON_INLINE PyObject *duplexlab_item(PyObject *t, Py_ssize_t i) {
        PyObject *item;
        if (!PyTuple_Check(t) || i < 0 || i >= PyTuple_GET_SIZE(t)) {
            PyErr_SetString(PyExc_IndexError, "not an item of a tuple");
            return NULL;
        }
        item = PyTuple_GET_ITEM(t, i);
        Py_INCREF(item);
        return item;
    }
    """
    bytes cut "duplexlab_cut"(bytes b, Py_ssize_t start, Py_ssize_t end)
    bint same "duplexlab_same"(bytes b, Py_ssize_t at, bytes key)
    Py_ssize_t slot12 "duplexlab_slot12"(bytes b, Py_ssize_t at, int bits)
    int clear "duplexlab_clear"(list lst) except -1
    Py_ssize_t find "duplexlab_find"(bytes b, bytes sub, Py_ssize_t start, Py_ssize_t end)
    bint bare_lf "duplexlab_bare_lf"(bytes b, Py_ssize_t start, Py_ssize_t end)
    bint ctl_ws "duplexlab_ctl_ws"(bytes b, Py_ssize_t start, Py_ssize_t end)
    str latin1 "duplexlab_latin1"(bytes b, Py_ssize_t start, Py_ssize_t end)
    object tuple2 "duplexlab_tuple2"(object cls, object a, object b)
    object tuple7 "duplexlab_tuple7"(object cls, object a, object b, object c, object d, object e, object f, object g)
    object item "duplexlab_item"(object t, Py_ssize_t i)
    void untrack "PyObject_GC_UnTrack"(object o)
