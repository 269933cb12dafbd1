# cython: language_level=3
"""Wire events built by writing their slots: the compiled parsers' way to make an event, the same object its class makes.

An event is a slots dataclass (analysis/events.py) whose ``__init__`` dataclasses writes as Python (with exec): from
compiled code, building one through it costs about 2 k instructions (the call through the type, the tuple of
arguments, a Python frame, a store per field), four an HTTP/1.1 exchange. ``Maker(cls)`` makes instances of such a
class from all its fields, given in their order (as the class's own positional call takes them), by allocating the
object as the class does and writing each field's slot: no Python frame, no keyword matching. The result is an
instance of ``cls`` itself, with the same values in the same slots: it compares, prints and pickles as one the class
made (tests/test_slots.py).

``Maker`` refuses (TypeError) a class it cannot build that way: not a dataclass, a field that is not a plain
writable object slot (a ``__dict__`` class, a read-only member), a field left out of ``__init__``, a
``__post_init__``, or an ``__init__`` that is not the one dataclasses wrote. A call with another number of
arguments than the class has fields raises TypeError, as the class would; the arguments are not checked otherwise
(neither does the class).

An extension only, no .py twin (analysis/_speed.py's NATIVE): where it is not built, is stale, or ``DUPLEXLAB_PURE``
is set, importing it fails and its users call the class itself (protocols/http1.py's ``_maker``).
"""

import dataclasses
from types import MemberDescriptorType

from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_XINCREF
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE

cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        int type
        Py_ssize_t offset
        int flags
    ctypedef struct PyMemberDescrObject:
        PyMemberDef *d_member
    object PyType_GenericAlloc(PyTypeObject *tp, Py_ssize_t nitems)

cdef extern from "structmember.h":
    int T_OBJECT_EX
    int READONLY

cdef enum:
    MAX_FIELDS = 32


cdef class Maker:
    """Builds instances of one slots dataclass from all its fields, in order (see the module docstring)."""

    cdef readonly object cls
    cdef readonly tuple names
    cdef PyTypeObject *tp
    cdef Py_ssize_t n
    cdef Py_ssize_t offsets[MAX_FIELDS]

    def __init__(self, cls):
        if not isinstance(cls, type) or not dataclasses.is_dataclass(cls):
            raise TypeError(f"{cls!r} is not a dataclass")
        fields = dataclasses.fields(cls)
        name = cls.__qualname__
        if any(not f.init for f in fields):
            raise TypeError(f"{name} has a field left out of __init__")
        if hasattr(cls, "__post_init__"):
            raise TypeError(f"{name} has a __post_init__")
        init = cls.__dict__.get("__init__")
        if init is None or getattr(init, "__qualname__", "") != f"{name}.__init__" or \
                getattr(init.__code__, "co_filename", "") != "<string>":
            raise TypeError(f"{name}'s __init__ is not the one dataclasses writes")
        if len(fields) > MAX_FIELDS:
            raise TypeError(f"{name} has more than {MAX_FIELDS} fields")
        if cls.__dictoffset__:
            raise TypeError(f"{name} has a __dict__: its fields are not all slots")
        cdef PyMemberDef *member
        for i, f in enumerate(fields):
            descr = next((k.__dict__[f.name] for k in cls.__mro__ if f.name in k.__dict__), None)
            if type(descr) is not MemberDescriptorType:
                raise TypeError(f"{name}.{f.name} is not a slot")
            member = (<PyMemberDescrObject *><PyObject *>descr).d_member
            if member.type != T_OBJECT_EX or member.flags & READONLY:
                raise TypeError(f"{name}.{f.name} is not a writable object slot")
            self.offsets[i] = member.offset
        self.cls = cls
        self.names = tuple(f.name for f in fields)
        self.tp = <PyTypeObject *>cls
        self.n = len(fields)

    def __call__(self, *args):
        cdef Py_ssize_t i, n = self.n
        cdef PyObject *value
        if PyTuple_GET_SIZE(args) != n:
            raise TypeError(f"{self.cls.__qualname__} takes {n} fields, not {PyTuple_GET_SIZE(args)}")
        obj = PyType_GenericAlloc(self.tp, 0)  # as the class's own __new__ (object's) allocates it: zeroed, tracked
        cdef char *base = <char *><PyObject *>obj
        for i in range(n):
            value = PyTuple_GET_ITEM(args, i)
            Py_XINCREF(value)
            (<PyObject **>(base + self.offsets[i]))[0] = value  # the slot was empty (NULL): nothing to release
        return obj

    def __repr__(self) -> str:
        return f"Maker({self.cls.__qualname__})"
