"""The generated suite as files: each `Module` of ``suites.py`` as a small pytest module, an
index, and the folder written or compared (``fsync generate [--check]``).

A module says where it comes from ("generated from spec/broadsoft.yaml by fsync generate —
do not edit"), marks its profile (``pytest.mark.fsync_profile``) and has one function per
test purpose: the purpose and the expected ladder in its docstring, then calls on the
``fsync_target`` fixture (``fsync_model/testing/pytest_plugin.py``). Output is
deterministic: the same spec gives the same bytes. Lines stay within 100 columns.
"""
from __future__ import annotations

import filecmp
import re
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fsync_model.generate.suites import Case, Module, modules_for
from fsync_model.profile import Profile
from fsync_model.testing.stimuli import IMPORTABLE

#: what every generated file contains; only files carrying it are ever deleted
GENERATOR_MARK = "by fsync generate \u2014 do not edit"
WIDTH = 100
TARGET = "fsync_target"


def stamp(profile: Profile) -> str:
    return f"generated from spec/{profile.path.name} {GENERATOR_MARK}"


# ============================================================================ wrapping


def _split_top(text: str) -> list[str]:
    """``text`` split at commas outside brackets and strings."""
    parts, depth, quote, start = [], 0, "", 0
    i = 0
    while i < len(text):
        char = text[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
        i += 1
    tail = text[start:].strip()
    if tail:
        parts.append(tail)
    return parts


def wrap(expression: str, indent: int) -> str:
    """``expression`` (a call or a tuple) laid out within `WIDTH` columns at ``indent``:
    arguments one per line when it does not fit on one."""
    if indent + len(expression) <= WIDTH:
        return expression
    match = re.fullmatch(r"((?:\w+=)?[\w.]*)\((.*)\)", expression, re.S)
    if match is None:
        return expression
    head, inner = match.groups()
    items = _split_top(inner)
    pad = " " * (indent + 4)
    lines = [f"{pad}{wrap(item, indent + 4)}," for item in items]
    return f"{head}(\n" + "\n".join(lines) + "\n" + " " * indent + ")"


# ============================================================================ rendering


def _docstring(case: Case) -> list[str]:
    body = textwrap.wrap(case.purpose, WIDTH - 8)
    lines = [f'    """{case.tp}: {case.title}.', ""]
    lines += [f"    {line}" for line in body]
    lines += ["", f"    Expected ladder ({case.machine}):"]
    lines += [f"        {line}"[: WIDTH] for line in case.ladder]
    lines.append('    """')
    return lines


def _function(case: Case) -> list[str]:
    lines: list[str] = []
    marker = case.setup.marker_arguments()
    if marker:
        lines.append(f"@pytest.mark.fsync_setup({marker})")
    lines.append(f"def {case.function}({TARGET}: Target) -> None:")
    lines += _docstring(case)
    for item in [*case.steps, *case.expect]:
        call = f"{TARGET}.{item.target_call()}"
        lines.append("    " + wrap(call, 4))
    return lines


def render_module(module: Module) -> str:
    """The pytest module of ``module``."""
    profile = module.profile
    body: list[str] = []
    for case in module.cases:
        body += ["", "", *_function(case)]
    text = "\n".join(body)
    imports: dict[str, set[str]] = {"fsync_model.testing.fixtures": {"Target"}}
    for name, where in IMPORTABLE.items():
        if re.search(rf"\b{name}\(", text):
            imports.setdefault(where, set()).add(name)
    import_lines = [f"from {where} import {', '.join(sorted(names))}"
                    for where, names in sorted(imports.items())]
    purposes = [f"    {c.tp:<22} {c.title}"[:WIDTH] for c in module.cases]
    head = [
        f'"""Regression suite: {module.title}.',
        "",
        stamp(profile),
        "",
        "Test purposes:",
        *purposes,
        "",
        "By default each test runs the reference phone and server of the profile on their own",
        "in-memory network; see fsync_model/testing/pytest_plugin.py for --fsync-dut.",
        '"""',
        "from __future__ import annotations",
        "",
        "import pytest",
        "",
        *import_lines,
        "",
        f"pytestmark = pytest.mark.fsync_profile({profile.id!r})".replace("'", '"'),
    ]
    return "\n".join(head) + "\n" + text + "\n"


def render_index(modules: Iterable[Module]) -> str:
    """``INDEX.md``: every test purpose, by system and module."""
    lines = ["# Generated regression suites", "",
             f"<!-- generated from spec/ {GENERATOR_MARK} -->", "",
             "Regenerate with `fsync generate`; check with `fsync generate --check`.", ""]
    current = None
    for module in modules:
        if module.profile.id != current:
            current = module.profile.id
            lines += [f"## {module.profile.name} (spec/{module.profile.path.name})", ""]
        lines += [f"### {module.name}.py: {module.title}", "",
                  "| test purpose | what it checks |", "|---|---|"]
        lines += [f"| {c.tp} | {c.title} |" for c in module.cases]
        lines.append("")
    return "\n".join(lines)


@dataclass(frozen=True)
class Suite:
    """Every generated file, by relative path, and the modules behind them."""

    files: dict[str, str]
    modules: tuple[Module, ...] = field(default=())

    @property
    def cases(self) -> int:
        return sum(len(m.cases) for m in self.modules)


def suite_files(profiles: Iterable[Profile]) -> Suite:
    """The generated suite of ``profiles`` (sorted by id), as text."""
    modules: list[Module] = []
    for profile in sorted(profiles, key=lambda p: p.id):
        modules.extend(modules_for(profile))
    files = {f"{m.name}.py": render_module(m) for m in modules}
    files["INDEX.md"] = render_index(modules)
    return Suite(files, tuple(modules))


# ============================================================================ writing


def _generated(path: Path) -> bool:
    try:
        return GENERATOR_MARK in path.read_text(encoding="utf-8", errors="replace")[:4000]
    except OSError:
        return False


def write_suite(files: Mapping[str, str], out: Path) -> list[Path]:
    """Write ``files`` under ``out``; delete generated files no longer produced. Returns
    the deleted paths. Files without the stamp are never touched."""
    out.mkdir(parents=True, exist_ok=True)
    removed = []
    for path in sorted(out.rglob("*")):
        relative = path.relative_to(out).as_posix()
        if path.is_file() and relative not in files and _generated(path):
            path.unlink()
            removed.append(path)
    for relative, text in files.items():
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
    return removed


@dataclass(frozen=True)
class SuiteDiff:
    stale: tuple[str, ...]
    missing: tuple[str, ...]
    extra: tuple[str, ...]

    @property
    def clean(self) -> bool:
        return not (self.stale or self.missing or self.extra)

    def lines(self) -> list[str]:
        return ([f"stale:   {p}" for p in self.stale] + [f"missing: {p}" for p in self.missing]
                + [f"extra:   {p}" for p in self.extra])


def compare_suite(fresh: Path, existing: Path) -> SuiteDiff:
    """How ``existing`` differs from a freshly written ``fresh`` folder (extra: generated
    files that would no longer be written)."""
    new = {p.relative_to(fresh).as_posix() for p in fresh.rglob("*") if p.is_file()}
    old = {p.relative_to(existing).as_posix() for p in existing.rglob("*")
           if p.is_file() and _generated(p)} if existing.is_dir() else set()
    stale = tuple(sorted(p for p in new & old
                         if not filecmp.cmp(fresh / p, existing / p, shallow=False)))
    missing = tuple(sorted(p for p in new - old if not (existing / p).is_file()))
    stale += tuple(sorted(p for p in new - old if (existing / p).is_file()))
    return SuiteDiff(stale, missing, tuple(sorted(old - new)))
