# C types for measures.py on the compiled path (setup.py; Cython's augmenting .pxd): the .py stays the one source and
# runs as it is on the pure path. No class is declared here: Measures is pickled with its judge (-j), so it stays a
# Python object; the work per response is the module function below, which its handler calls in C.
cimport cython

@cython.locals(content_type=str)
cpdef bint _plain(e)
