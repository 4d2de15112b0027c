"""profile/ imports nothing else of fsync; model/ imports only profile/ (and transitions at
the edge, in machines.py)."""
from __future__ import annotations

import ast
from pathlib import Path

import fsync_model

ROOT = Path(fsync_model.__file__).parent


def imports(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).glob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    names.add(f"fsync_model.{package}")
                elif node.module:
                    names.add(node.module)
        found[path.name] = names
    return found


def fsync_packages(names: set[str]) -> set[str]:
    return {n.split(".")[1] for n in names if n.startswith("fsync_model.") and n.count(".")}


def test_profile_imports_nothing_else_of_fsync() -> None:
    for name, names in imports("profile").items():
        assert fsync_packages(names) <= {"profile"}, name


def test_model_imports_only_profile() -> None:
    for name, names in imports("model").items():
        assert fsync_packages(names) <= {"model", "profile"}, name
        banned = {"socket", "asyncio", "time", "random"}
        assert not names & banned, name
        if name != "machines.py":
            assert not any(n.startswith("transitions") for n in names), name
