"""Ship spec/ inside the package: a wheel (``pip install .``) has no repository around it, so
the profiles are copied to ``fsync_model/spec`` at build time, where the profile loader
looks first (fsync_model/profile/loader.py). Editable installs and checkouts read
``<repo>/spec`` directly. Everything else about the build is in pyproject.toml."""
from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SPEC = Path(__file__).resolve().parent / "spec"


class BuildPyWithSpec(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "fsync_model" / "spec"
        target.mkdir(parents=True, exist_ok=True)
        for source in sorted(SPEC.iterdir()):
            if source.suffix in (".yaml", ".yml", ".json"):
                shutil.copy2(source, target / source.name)


setup(cmdclass={"build_py": BuildPyWithSpec})
