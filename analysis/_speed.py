"""Which path runs: the hot modules compiled (Cython, built by setup.py where a C compiler is at hand) or pure Python.

setup.py compiles the modules named in HOT into extension modules beside their sources (the .py as it is, no Cython
syntax in it; a few have a .pxd beside them that declares C types for their classes and hottest functions), and
writes MANIFEST: each compiled module's source CRC-32 (.py and .pxd) at build time. ``install()`` (called by the
package's ``__init__``) puts a finder first on ``sys.meta_path`` that, for those modules only, chooses:

- the source (.py) when ``DUPLEXLAB_PURE`` is set to anything but ``0`` or empty, when nothing was built, or when
  the source is no longer the one the extension was built from (an edited clone must never run stale code);
- the extension otherwise. Cython gives a module the name it was compiled under for its classes' ``__module__``,
  enters it in sys.modules under that name too, and looks its relative imports up there first; so setup.py
  compiles each under a name no one imports (``_duplexlab_built.wire.tcp``), the loader drops those entries around
  each load (``_forget_built``), and imports resolve from where the module was loaded (``analysis`` from a clone,
  ``duplexlab`` installed: both may live in one process, even from different trees). The loader gives its classes
  and functions the name it was imported under, so pickle (``-j``, ``--cluster``) finds them where they live.

A compiled module may ``cimport`` another's extension types (CIMPORTS; a .pxd line ``from _duplexlab_built.wire.tcp
cimport Reassembler``) and then call its cpdef methods and read its C fields in C. Such a module runs compiled only
where each module it cimports does, in the same package name (the loader shows it the one loaded there, under the
build name its C code imports); otherwise it runs its source too. Its staleness covers the .pxd files it cimports
(a layout it was compiled against).

A module may exist only compiled (NATIVE: a .pyx, no .py twin; wire._aead holds OpenSSL cipher contexts for QUIC
and TLS): setup.py builds it the same way, and the finder loads it on the same terms; where it would not be chosen,
importing it raises ImportError with the reason, and its user keeps its pure-Python way (quiccrypto:
``cryptography``).

Both paths give identical results: tests/test_compiled.py runs both on the same captures and compares.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import os
import sys
import types
import zlib

ENV = "DUPLEXLAB_PURE"
BUILT_AS = "_duplexlab_built"  # the package name Cython compiles the extensions under (setup.py): none imports it
MANIFEST = "_compiled.txt"  # "<module> <CRC-32 of its source>" per line, beside this file
HOT = (  # the modules setup.py compiles, relative to the package
    "wire.pcapread", "wire.decode", "wire.tcp", "wire.stream", "wire.fragments", "wire.quic", "wire.quiccrypto",
    "protocols.dissect", "protocols.websocket", "protocols.http1", "protocols.http2", "protocols.sse",
    "protocols.carrier", "protocols.recognise", "protocols.http3", "protocols.tls", "wire.tls",
    "judge", "measures", "events",
    "invariants.common", "invariants.http1", "invariants.websocket", "invariants.sse", "invariants.path",
    "invariants.http3",
)
# The modules that exist only compiled (a .pyx): not imported, their users run pure.
NATIVE = ("wire._aead",)
# Compiled modules whose .pxd cimports another's types (``from _duplexlab_built.<dep> cimport ...``): module -> deps.
# (tests/test_compiled.py holds this table to the .pxd files.)
CIMPORTS = {"protocols.dissect": ("wire.tcp", "protocols.http1", "events", "wire.decode", "wire._capi"),
            "protocols.tls": ("protocols.http1", "wire.tls", "wire._capi"),
            "protocols.http1": ("events", "protocols.websocket", "wire._capi", "wire.stream"),
            "protocols.websocket": ("events",),
            "protocols.recognise": ("events",), "judge": ("events",), "measures": ("events",),
            "invariants.common": ("events",), "invariants.http1": ("events",), "invariants.websocket": ("events",),
            "invariants.path": ("events",), "events": ("wire._capi",),
            "wire.decode": ("wire._capi",), "wire.pcapread": ("wire._capi",), "wire.tcp": ("wire._capi",),
            "wire.quic": ("wire._capi",), "protocols.http3": ("wire._capi",)}
# .pxd files of C declarations alone (no module): each module that cimports them compiles them in; nothing to load.
DECLARED = ("wire._capi",)
_ROOT = os.path.dirname(os.path.abspath(__file__))


def source_file(rel: str, root: str = _ROOT) -> str:
    """The source setup.py compiles module ``rel`` from (.py, or .pyx for a NATIVE one), under package dir ``root``."""
    return os.path.join(root, *rel.split(".")) + (".pyx" if rel in NATIVE else ".py")


def pure_forced() -> bool:
    return os.environ.get(ENV, "") not in ("", "0")


def _manifest() -> dict[str, str]:
    try:
        with open(os.path.join(_ROOT, MANIFEST), encoding="ascii") as f:
            return dict(line.split() for line in f if line.strip())
    except (OSError, ValueError):
        return {}


def _extension(rel: str) -> str | None:
    base = os.path.join(_ROOT, *rel.split("."))
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        if os.path.exists(base + suffix):
            return base + suffix
    return None


def source_hash(path: str, cimported: tuple[str, ...] = ()) -> str | None:
    """The CRC-32 of a module's source (staleness, not security: hashlib would cost start-up time): the .py (or .pyx)
    and, where there is one, the .pxd beside it that gives its classes and hot functions C types when compiled; then
    the .pxd files ``cimported`` (paths: the layouts of the types it was compiled against)."""
    try:
        with open(path, "rb") as f:
            crc = zlib.crc32(f.read())
    except OSError:
        return None
    for pxd in (os.path.splitext(path)[0] + ".pxd", *cimported):
        try:
            with open(pxd, "rb") as f:
                crc = zlib.crc32(f.read(), crc)
        except OSError:
            pass
    return f"{crc:08x}"


def cimported(rel: str) -> tuple[str, ...]:
    """The modules whose types module ``rel`` was compiled against: those it cimports, and theirs in turn (a type's
    declaration may name another module's type: Cython imports that one too)."""
    out: list[str] = []
    todo = list(CIMPORTS.get(rel, ()))
    while todo:
        dep = todo.pop(0)
        if dep not in out:
            out.append(dep)
            todo.extend(CIMPORTS.get(dep, ()))
    return tuple(out)


def module_hash(rel: str, root: str = _ROOT) -> str | None:
    """``source_hash`` of module ``rel`` under package dir ``root``, with the .pxd files of the modules it was compiled
    against (``cimported``)."""
    return source_hash(source_file(rel, root), tuple(os.path.join(root, *dep.split(".")) + ".pxd"
                                                      for dep in cimported(rel)))


_LOADING: set[int] = set()  # id() of the compiled modules executing now (the import chain in progress)
_TOP = types.ModuleType(BUILT_AS)  # the top package of the build names, while a module that cimports loads: no path


def _forget_built() -> None:
    """Cython enters each module in sys.modules under its compile-time name too (BUILT_AS.<rel>) and looks a
    relative import up there first: left there, a module of one tree (an installed duplexlab) would serve the
    imports of another (a clone's analysis) in the same process. Nothing imports that name, so entries are dropped,
    but for the modules of the import chain in progress (``dataclasses`` looks their classes' module up by it)."""
    for name in [n for n in sys.modules if n.startswith(BUILT_AS + ".")]:
        if id(sys.modules[name]) not in _LOADING:
            del sys.modules[name]


def _loaded_from(extension: str) -> str | None:
    """The name a module was already loaded under from this extension file, in this process. (Each package name
    runs its own copy of this module, so the answer is asked of sys.modules, which both share.)"""
    for name, module in list(sys.modules.items()):
        if getattr(module, "__file__", None) == extension:
            return name
    return None


class _CompiledLoader(importlib.machinery.ExtensionFileLoader):
    """Loads an extension and gives its classes and functions the name it was imported under."""

    def exec_module(self, module) -> None:
        package, _, rel = self.name.partition(".")
        built = f"{BUILT_AS}.{rel}"
        _forget_built()
        # this module, and the ones it cimports as loaded under this package name (the finder made sure they are
        # compiled), not another tree's, under the names its C code imports while it executes
        # (C's import of a dotted name first imports its top package: a bare module stands for it meanwhile)
        shown = {built: module, **{f"{BUILT_AS}.{dep}": sys.modules[f"{package}.{dep}"] for dep in cimported(rel)
                                   if dep not in DECLARED}}
        if len(shown) > 1:
            shown[BUILT_AS] = _TOP
        for name, m in shown.items():
            if sys.modules.get(name) is not m:  # (the top one may be shown already, by a load this one is within)
                sys.modules[name] = m
                _LOADING.add(id(m))
            else:
                shown[name] = None
        try:
            super().exec_module(module)
        finally:
            for name, m in shown.items():
                if m is not None:
                    _LOADING.discard(id(m))
                    if sys.modules.get(name) is m:
                        del sys.modules[name]
        if self.name == built:
            return
        for obj in list(vars(module).values()):
            if getattr(obj, "__module__", None) == built:
                with contextlib.suppress(AttributeError, TypeError):
                    obj.__module__ = self.name


class _Finder:
    """A meta path finder for the HOT modules of one package name (``analysis`` or ``duplexlab``)."""

    def __init__(self, package: str) -> None:
        self.package = package
        self.pure = pure_forced()
        self.built = {} if self.pure else _manifest()
        self.chosen: dict[str, str] = {}  # module -> "compiled" or why it is pure

    def find_spec(self, name: str, path=None, target=None):
        package, _, rel = name.partition(".")
        if package != self.package or (rel not in HOT and rel not in NATIVE):
            return None
        source = source_file(rel)
        extension = None if self.pure else _extension(rel)
        if self.pure:
            self.chosen[rel] = f"{ENV} is set"
        elif extension is None or rel not in self.built:
            self.chosen[rel] = "not built"
        elif self.built[rel] != module_hash(rel):
            self.chosen[rel] = "its source changed since the build"
        elif (dep := self._pure_cimport(rel)) is not None:
            self.chosen[rel] = f"it cimports {dep}, which runs as Python here"
        elif (other := _loaded_from(extension)) is not None:
            # One extension module lives once per process (Cython keeps its state in C globals, and a second load
            # hands back the first module, bound to the other name's classes): when both names are one tree (an
            # editable install beside its clone), the second name to import runs the source.
            self.chosen[rel] = f"compiled under {other.partition('.')[0]} in this process"
        else:
            self.chosen[rel] = "compiled"
            return importlib.util.spec_from_file_location(name, extension,
                                                          loader=_CompiledLoader(name, extension))
        if rel in NATIVE:  # no source to run: the import fails, and its user takes its pure-Python way
            raise ModuleNotFoundError(self.chosen[rel], name=name)  # the reason, for --version
        return importlib.util.spec_from_file_location(name, source)


    def _pure_cimport(self, rel: str) -> str | None:
        """The first module ``rel`` cimports that does not run compiled under this package name (imported first)."""
        import importlib

        for dep in (d for d in cimported(rel) if d not in DECLARED):
            importlib.import_module(f"{self.package}.{dep}")
            if self.chosen.get(dep) != "compiled":
                return dep
        return None


def install(package: str) -> None:
    """Put the finder for ``package`` first on sys.meta_path (once per package name)."""
    if not any(isinstance(f, _Finder) and f.package == package for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder(package))


def describe(package: str) -> str:
    """Which path runs, for --version and the bench: "compiled (Cython)", "pure Python (...)" or mixed, then what
    opens AES-GCM (QUIC packets, TLS records): "OpenSSL contexts" (wire._aead) or "cryptography"."""
    import importlib

    for rel in HOT:
        importlib.import_module(f"{package}.{rel}")
    finder = next((f for f in sys.meta_path if isinstance(f, _Finder) and f.package == package), None)
    chosen = finder.chosen if finder is not None else {}
    compiled = [rel for rel in HOT if chosen.get(rel) == "compiled"]
    aead = f"; QUIC/TLS AES-GCM: {importlib.import_module(f'{package}.wire.quiccrypto').aead_backend()}"
    if len(compiled) == len(HOT):
        return f"compiled (Cython): {len(HOT)} hot modules{aead}"
    reasons = sorted({chosen.get(rel, "not built") for rel in HOT if rel not in compiled})
    if not compiled:
        return f"pure Python ({'; '.join(reasons)}){aead}"
    return (f"partly compiled (Cython): {len(compiled)} of {len(HOT)} hot modules; the rest pure "
            f"({'; '.join(reasons)}){aead}")
