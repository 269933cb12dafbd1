# C types for pcapread.py on the compiled path (setup.py; Cython's augmenting .pxd): the .py stays the one source and
# runs as it is on the pure path. Only the record walks are typed: a record's header fields are 32-bit unsigned.
cimport cython
from _duplexlab_built.wire._capi cimport cut as _c_cut  # (compiled only: the .py calls it under ``_COMPILED``)

cdef Py_ssize_t _EPB  # the Enhanced Packet Block's type (a C integer for the typed walk's comparison)

@cython.locals(end=Py_ssize_t, count=Py_ssize_t, sec=cython.ulonglong, frac=cython.ulonglong,
               caplen=Py_ssize_t, wirelen=cython.ulonglong, data=bytes)
cpdef tuple _pcap_batch(bytes buf, Py_ssize_t pos, Py_ssize_t number, object linktype, double scale, bint big,
                        list out)

@cython.locals(hi=cython.ulonglong)
cpdef unsigned long long _u32(bytes buf, Py_ssize_t at, bint big)

@cython.locals(end=Py_ssize_t, count=Py_ssize_t, known=Py_ssize_t, btype=Py_ssize_t, length=Py_ssize_t,
               iface=Py_ssize_t, caplen=Py_ssize_t, trailer=Py_ssize_t, stamp=cython.ulonglong, unit=cython.double,
               data=bytes)
cpdef tuple _pcapng_batch(bytes buf, Py_ssize_t pos, Py_ssize_t number, bint big, list interfaces, list out)
