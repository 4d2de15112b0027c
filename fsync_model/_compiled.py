"""Which modules setup.py compiles with mypyc, and whether the compiled ones are used.

The SIP hot path (``MODULES``) is compiled to C extensions by mypyc when the package is built
with mypyc and a C compiler at hand (``FSYNC_COMPILE=0`` builds pure Python; see setup.py and
bench/README.md). The ``.py`` files stay next to the extensions and are the same code.

Compiled modules call each other directly in C, so they are used all together or not at all:
:func:`choose` (run by ``fsync_model/__init__.py`` before any of them is imported) makes them
load from their ``.py`` files when

* ``FSYNC_PURE=1`` is set (to compare, or to debug with pure-Python tracebacks), or
* a source no longer matches what was compiled (an editable install or a checkout whose
  ``.py`` files changed after ``pip install -e .``): the build's SHA-256 of each source is in
  ``_native.json``; a warning says to rebuild.

:func:`status` says which modules are compiled (``fsync --version``). This module imports only
the standard library and is read by setup.py without importing the package.
"""
from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

#: The modules compiled: the SIP stack but its checker, SDP and errors (mypyc cannot compile
#: a class derived from RuntimeError: errors.TransactionError). Compiling model/runtime.py and
#: transport/address.py as well saved 0.6 % more instructions: not worth their imports.
MODULES: tuple[str, ...] = (
    "fsync_model.sip.params",
    "fsync_model.sip.fields",
    "fsync_model.sip.message",
    "fsync_model.sip.ids",
    "fsync_model.sip.timers",
    "fsync_model.sip.transaction",
    "fsync_model.sip.dialog",
    "fsync_model.sip.auth",
    "fsync_model.sip.multipart",
    "fsync_model.sip.useragent",
    "fsync_model.sip.subscription",
    "fsync_model.sip.framing",
)
#: mypyc's group: the shared library holding the compiled code is ``GROUP + "__mypyc"``.
GROUP = "fsync_model._native"
#: Written by setup.py next to the extensions: {module: SHA-256 of the source compiled}.
HASHES = "_native.json"
#: Set to 1 to load the pure-Python modules although compiled ones are installed.
PURE_ENV = "FSYNC_PURE"

PACKAGE_DIR = Path(__file__).resolve().parent

#: Why the compiled modules are not used ("" when they are, or when there are none).
reason = ""


def source_path(module: str, root: Path = PACKAGE_DIR.parent) -> Path:
    return root.joinpath(*module.split(".")).with_suffix(".py")


def source_hashes(root: Path = PACKAGE_DIR.parent) -> dict[str, str]:
    return {module: hashlib.sha256(source_path(module, root).read_bytes()).hexdigest()
            for module in MODULES}


def _built() -> bool:
    """A compiled group is installed next to this file."""
    return any((PACKAGE_DIR / f"{GROUP.rpartition('.')[2]}__mypyc{suffix}").exists()
               for suffix in importlib.machinery.EXTENSION_SUFFIXES)


class _PureFinder(importlib.abc.MetaPathFinder):
    """Loads the compiled modules from their ``.py`` files."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MODULES:
            return None
        return importlib.util.spec_from_file_location(fullname, source_path(fullname))


def choose() -> None:
    """Decide, once, whether the compiled modules are used (see the module's docstring)."""
    global reason
    if not _built() or any(isinstance(f, _PureFinder) for f in sys.meta_path):
        return
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        reason = f"{PURE_ENV}={os.environ[PURE_ENV]}"
    else:
        try:
            recorded = json.loads((PACKAGE_DIR / HASHES).read_text())
            changed = [m for m, digest in source_hashes().items() if recorded.get(m) != digest]
        except (OSError, ValueError, AttributeError):
            changed = ["(no record of the compiled sources)"]
        if changed:
            reason = ("compiled modules older than their source: "
                      + ", ".join(m.rpartition(".")[2] for m in changed))
            print(f"fsync: {reason}; using the pure-Python modules (rebuild: pip install -e ., "
                  "or FSYNC_COMPILE=0 pip install -e . to drop the compiled ones)",
                  file=sys.stderr)
    if reason:
        sys.meta_path.insert(0, _PureFinder())


def status() -> str:
    """One line: which modules are compiled and in use (imports them)."""
    compiled = [m for m in MODULES
                if not (importlib.import_module(m).__file__ or "").endswith(".py")]
    if len(compiled) == len(MODULES):
        return f"compiled with mypyc: {len(compiled)} modules ({PURE_ENV}=1 for pure Python)"
    if compiled:
        return f"partly compiled with mypyc: {', '.join(compiled)}"
    if reason:
        return f"pure Python ({reason})"
    return "pure Python (not compiled: see FSYNC_COMPILE in bench/README.md)"
