# C types for path.py on the compiled path (setup.py; Cython's augmenting .pxd): the .py stays the one source and
# runs as it is on the pure path. No class is declared here: the recorder is pickled with its judge (-j), so it stays
# a Python object; its work per event is the module function below, which its method calls in C.
cimport cython

cdef Py_ssize_t _UNSURE, _LEG

@cython.locals(events=dict, kept=list, n=Py_ssize_t)
cpdef _keep(r, e)
