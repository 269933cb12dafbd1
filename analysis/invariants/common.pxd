# C types for common.py on the compiled path (setup.py; Cython's augmenting .pxd): the .py stays the one source and
# runs as it is on the pure path. No class is declared here: the trackers that hold an Unprompted are pickled (-j),
# so it stays a Python object; its work per message is the module function below, which its methods call in C.
cpdef _message(u, key, direction, frame)
