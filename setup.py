"""The build: the hot modules (analysis/_speed.py's HOT) compiled with Cython where Cython and a C compiler are at
hand, the pure-Python package otherwise. pyproject.toml holds everything else.

- ``pip install .`` (a wheel) and ``pip install -e .`` (an editable install, the extensions built beside their
  sources) both compile; a machine without a C compiler (or without Cython) gets the pure package: a module that
  does not compile is left out with one line on stderr, and the install goes on.
- The sources are compiled as they are (plain Python, annotations not used as C types), so both paths run the
  same code. A few hot modules have a .pxd beside them (Cython's augmenting declarations): their classes become
  extension types with C-typed attributes, and their hottest functions get C-typed arguments and locals; the .py
  stays the one source. analysis/_compiled.txt records each compiled module's CRC-32 (its .py and .pxd), and a
  module edited since the build runs as Python until the next build.
- A module that exists only compiled (_speed.NATIVE: analysis/wire/_aead.pyx, OpenSSL cipher contexts for AES-GCM)
  is built the same way; where it is not, quiccrypto keeps ``cryptography``. It needs no OpenSSL headers or library
  at build time (it finds libcrypto at import).
- ``DUPLEXLAB_PURE=1`` at build time builds nothing; at run time it makes the package ignore what was built.
"""

from __future__ import annotations

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "analysis"))
from _speed import BUILT_AS, ENV, HOT, MANIFEST, NATIVE, module_hash, source_file

sys.path.pop(0)
PACKAGE = "duplexlab"  # the installed package (pyproject.toml's package-dir maps it to analysis/)


def _extensions() -> list:
    if os.environ.get(ENV, "") not in ("", "0"):
        return []
    try:
        from Cython.Build import cythonize
        from setuptools import Extension
    except ImportError:
        return []
    # Cython names each module BUILT_AS.<rel> (see analysis/_speed.py: its relative imports must not find another
    # tree's duplexlab in sys.modules); setuptools places it as duplexlab.<rel> (PyInit_<leaf> is the same).
    # NATIVE modules (a .pyx, no .py twin) are built the same way; wire._aead declares the few libcrypto functions it
    # calls itself and finds them at import (dlopen): no OpenSSL headers or library at build time.
    exts = [Extension(f"{BUILT_AS}.{rel}", [source_file(rel, "analysis")],
                      libraries=["dl"] if rel in NATIVE and sys.platform.startswith("linux") else [])
            for rel in (*HOT, *NATIVE)]
    try:
        built = cythonize(exts, build_dir=os.path.join("build", "cython"), quiet=True, nthreads=0,
                          include_path=[_pxd_root()],
                          compiler_directives={"language_level": 3, "annotation_typing": False,
                                               "binding": True, "embedsignature": False})
    except Exception as exc:  # Cython could not translate a module: the pure package still installs
        print(f"duplexlab: not compiling ({exc}); the package runs as pure Python", file=sys.stderr)
        return []
    for ext in built:
        ext.name = f"{PACKAGE}.{ext.name.partition('.')[2]}"
    return built


def _pxd_root() -> str:
    """Where Cython finds each module's .pxd (analysis/wire/tcp.pxd beside tcp.py) under the name the module is
    compiled as (BUILT_AS.wire.tcp): a directory holding BUILT_AS, a link to analysis/. A .pxd that cimports another
    module's types names it so (``from _duplexlab_built.wire.tcp cimport Reassembler``; _speed.CIMPORTS lists it):
    the loader shows the module it imports at run time under that name."""
    root = os.path.abspath(os.path.join("build", "pxd"))
    link = os.path.join(root, BUILT_AS)
    os.makedirs(root, exist_ok=True)
    if not os.path.islink(link):
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(os.path.abspath("analysis"), link)
    return root


class BuildExt(build_ext):
    """Builds what it can and writes the manifest of what was built (beside the sources in place, else in the
    build tree), so the package loads an extension only for the source it came from."""

    def finalize_options(self) -> None:
        super().finalize_options()
        if not self.parallel:
            self.parallel = os.cpu_count() or 1  # the modules compile independently

    def build_extension(self, ext) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # no C compiler, or it failed: this module stays pure Python
            print(f"duplexlab: {ext.name} not compiled ({exc}); it runs as pure Python", file=sys.stderr)

    def run(self) -> None:
        super().run()
        lines = []
        for ext in self.extensions:
            rel = ext.name.partition(".")[2]
            if os.path.exists(self.get_ext_fullpath(ext.name)):
                lines.append(f"{rel} {module_hash(rel, 'analysis')}\n")
        self._write_manifest(lines)

    def _write_manifest(self, lines: list[str]) -> None:
        first = self.extensions[0].name if self.extensions else None
        if first is None:
            return
        # the package directory the extensions went to: <dir of the first one> up to the package root
        depth = first.count(".")
        where = os.path.dirname(self.get_ext_fullpath(first))
        for _ in range(depth - 1):
            where = os.path.dirname(where)
        with open(os.path.join(where, MANIFEST), "w", encoding="ascii") as f:
            f.writelines(lines)


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExt})
