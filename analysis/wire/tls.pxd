# C types for tls.py on the compiled path (setup.py; Cython's augmenting .pxd): the .py stays the one source and
# runs as it is on the pure path. A class declared here is an extension type there: every attribute its __init__
# sets must be declared, and nothing may be added to it or its methods replaced at run time (tests subclass it).
# A record count (seq) stays below 2**63: a connection would need that many records.

cdef class RecordKeys:
    cdef public long long seq

    cpdef tuple open_record(self, record)  # (protocols/tls.pxd cimports it: a C call a record)

cdef class Tls13Keys(RecordKeys):
    cdef public object aead, iv, lane, secret
    cdef public str hash
    cdef public int suite

    cpdef tuple open_record(self, record)

cdef class _Aead12(RecordKeys):
    cdef public object aead, iv
    cdef public bint gcm

cdef class _Cbc12(RecordKeys):
    cdef public object key, mac_key
    cdef public str mac
    cdef public bint etm
    cdef public int mac_len
