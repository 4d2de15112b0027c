"""Pass 1 of loading a profile: YAML composed with the line of every key and list item.

``yaml.safe_load`` forgets where things were; composing keeps each node's mark, so every
later error can name its line. Duplicate keys and non-string keys (YAML 1.1 reads an
unquoted ``on:`` as ``True``) are refused here, since ``safe_load`` would silently accept them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import ProfileError

#: a field's path in the document: keys and list indexes
FieldPath = tuple[str | int, ...]


def display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def field_name(path: FieldPath) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "(top)"


class Document:
    """Plain data of one file plus the line of every key and list item."""

    def __init__(self, file: str, data: dict[str, Any], lines: dict[FieldPath, int]) -> None:
        self.file = file
        self.data = data
        self.lines = lines

    def line(self, path: FieldPath) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return 1

    def error(self, path: FieldPath, problem: str) -> ProfileError:
        return ProfileError(self.file, self.line(path), field_name(path), problem)


def compose(text: str, file: str) -> Document:
    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else None
            context = exc.context or ""
            if context and exc.context_mark is not None and exc.context_mark is not mark:
                context += f" (started at line {exc.context_mark.line + 1})"
            problem = ": ".join(p for p in (context, exc.problem) if p) or str(exc)
            raise ProfileError(file, line, "(yaml)", problem) from None
        except yaml.YAMLError as exc:
            raise ProfileError(file, None, "(yaml)", str(exc)) from None
        if node is None:
            raise ProfileError(file, 1, "(top)", "empty file: expected a mapping")
        lines: dict[FieldPath, int] = {}
        data = _to_python(loader, node, (), lines, file)
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ProfileError(file, node.start_mark.line + 1, "(top)", "expected a mapping of keys")
    return Document(file, data, lines)


def _to_python(
    loader: yaml.SafeLoader,
    node: yaml.Node,
    path: FieldPath,
    lines: dict[FieldPath, int],
    file: str,
) -> Any:
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            try:
                key = loader.construct_object(key_node, deep=True)
            except yaml.YAMLError as exc:
                raise ProfileError(file, line, field_name(path), str(exc)) from None
            if not isinstance(key, str):
                raise ProfileError(
                    file, line, field_name(path),
                    f"key {key!r} is not a string (YAML 1.1 reads unquoted on/off/yes/no "
                    "as booleans: quote it)",
                )
            if key in result:
                first = lines[(*path, key)]
                raise ProfileError(
                    file, line, field_name((*path, key)), f"duplicate key (first at line {first})"
                )
            lines[(*path, key)] = line
            result[key] = _to_python(loader, value_node, (*path, key), lines, file)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            items.append(_to_python(loader, item, (*path, index), lines, file))
        return items
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        raise ProfileError(file, node.start_mark.line + 1, field_name(path), str(exc)) from None
