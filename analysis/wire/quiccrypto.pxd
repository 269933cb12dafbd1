# C types for quiccrypto.py on the compiled path (setup.py; Cython's augmenting .pxd): the .py stays the one source
# and runs as it is on the pure path. Packet numbers fit in 62 bits (RFC 9000 §17.1); Keys stays a Python class.
cimport cython

@cython.locals(first=cython.int, pn_len=cython.int, pn_end=Py_ssize_t, truncated=cython.longlong,
               pn=cython.longlong, i=cython.int, mask=bytes)
cpdef _open_short(keys, bytes packet, Py_ssize_t pn_offset, long long largest, int phase)

@cython.locals(expected=cython.longlong, win=cython.longlong, hwin=cython.longlong, mask=cython.longlong,
               candidate=cython.longlong)
cpdef long long decode_packet_number(long long truncated, int pn_len, long long largest)
