"""Build steps pyproject.toml cannot say.

* Ship spec/ inside the package: a wheel (``pip install .``) has no repository around it, so
  the profiles are copied to ``fsync_model/spec`` at build time, where the profile loader
  looks first (fsync_model/profile/loader.py). Editable installs and checkouts read
  ``<repo>/spec`` directly.
* Compile the SIP hot path (``fsync_model/_compiled.py`` lists the modules) with mypyc: about
  a quarter less CPU per message (bench/README.md). Done when ``FSYNC_COMPILE`` is not ``0``
  and mypyc is importable (pyproject's build requirements bring it); when the compile fails
  (no C compiler, a mypyc error) the build goes on pure Python, with a note. The ``.py`` files
  are always installed; an editable install puts the extensions next to them, and
  ``fsync_model/_compiled.py`` falls back to the ``.py`` files once they change.

Everything else about the build is in pyproject.toml."""
from __future__ import annotations

import importlib.machinery
import json
import os
import runpy
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SPEC = ROOT / "spec"
COMPILED: dict[str, Any] = runpy.run_path(str(ROOT / "fsync_model" / "_compiled.py"))
MODULES: tuple[str, ...] = COMPILED["MODULES"]
GROUP: str = COMPILED["GROUP"]
HASHES: str = COMPILED["HASHES"]
#: Stands for the extensions until build_ext asks mypyc for them (mypyc type-checks and
#: generates C, which only a build needs: not egg_info or the metadata steps).
PLACEHOLDER = Extension(f"{GROUP}__mypyc", sources=[])


def note(text: str) -> None:
    print(f"fsync setup: {text}", file=sys.stderr, flush=True)


def compile_wanted() -> bool:
    if os.environ.get("FSYNC_COMPILE", "1").strip().lower() in ("0", "no", "false", "off"):
        note("FSYNC_COMPILE=0: pure Python")
        return False
    try:
        import mypyc.build  # noqa: F401
    except ImportError:
        note("mypyc is not installed: pure Python (pip install mypy to compile the SIP hot "
             "path)")
        return False
    return True


def remove_compiled(package_root: Path) -> None:
    """Delete extensions and the source record a previous build left in ``package_root``
    (the source tree, for an editable install). Every extension in the package goes, not
    only those of MODULES: a module taken out of MODULES would keep a shim whose code is no
    longer in the group's library, and importing it would fail."""
    package = package_root / "fsync_model"
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        for path in package.rglob(f"*{suffix}"):
            path.unlink(missing_ok=True)
    (package / HASHES).unlink(missing_ok=True)


class BuildPyWithSpec(build_py):
    def run(self) -> None:
        super().run()
        # build_ext (which runs next) puts fresh extensions there, or none
        if getattr(self, "editable_mode", False):
            remove_compiled(ROOT)
            return
        remove_compiled(Path(self.build_lib))
        target = Path(self.build_lib) / "fsync_model" / "spec"
        target.mkdir(parents=True, exist_ok=True)
        for source in sorted(SPEC.iterdir()):
            if source.suffix in (".yaml", ".yml", ".json"):
                shutil.copy2(source, target / source.name)


class BuildExtMypyc(build_ext):
    """The mypyc extensions, or none (with a note) when mypyc or the C compiler fails."""

    def _mypyc_extensions(self) -> list[Extension]:
        self._hashes = COMPILED["source_hashes"](ROOT)
        try:
            from mypyc.build import mypycify

            started = time.monotonic()
            os.chdir(ROOT)  # mypyc takes paths relative to the project, and writes build/
            extensions = mypycify([m.replace(".", "/") + ".py" for m in MODULES],
                                  opt_level="3", group_name=GROUP)
            note(f"mypyc generated C for {len(MODULES)} modules in "
                 f"{time.monotonic() - started:.0f} s; compiling")
            return list(extensions)
        except BaseException as error:  # mypyc reports type errors by SystemExit
            if isinstance(error, KeyboardInterrupt):
                raise
            note(f"mypyc failed ({type(error).__name__}: {error}): pure Python")
            return []

    def run(self) -> None:
        if self.extensions == [PLACEHOLDER]:
            # mypyc is asked here, not in finalize_options: the metadata steps of a PEP 517
            # build finalize this command too, and mypyc takes seconds to generate the C
            self.extensions = self.distribution.ext_modules = self._mypyc_extensions()
        if not self.extensions:
            return
        started = time.monotonic()
        try:
            for ext in self.extensions:  # what finalize_options does per extension
                ext._full_name = fullname = self.get_ext_fullname(ext.name)
                self.ext_map[fullname] = self.ext_map[fullname.split(".")[-1]] = ext
                ext._links_to_dynamic = ext._needs_stub = False
                ext._file_name = self.get_ext_filename(fullname)
            super().run()
        except Exception as error:  # CompileError, LinkError, a missing compiler...
            note(f"compiling the mypyc extensions failed ({type(error).__name__}: {error}): "
                 "pure Python")
            self.extensions = []
            self.distribution.ext_modules = []
            remove_compiled(Path(self.build_lib))  # a shim without its library fails import
            if self.inplace:
                remove_compiled(ROOT)
            return
        record = Path(ROOT if self.inplace else self.build_lib) / "fsync_model" / HASHES
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(self._hashes, indent=1, sort_keys=True) + "\n")
        note(f"compiled {len(MODULES)} modules with mypyc in {time.monotonic() - started:.0f} s")

    def get_outputs(self) -> list[str]:
        outputs = super().get_outputs()
        if self.extensions and not self.inplace:
            outputs.append(str(Path(self.build_lib) / "fsync_model" / HASHES))
        return outputs


setup(
    cmdclass={"build_py": BuildPyWithSpec, "build_ext": BuildExtMypyc},
    ext_modules=[PLACEHOLDER] if compile_wanted() else [],
)
