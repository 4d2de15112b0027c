"""The one exception a bad profile raises.

Every problem with a spec file (unreadable, bad YAML, schema violation, unknown key, a
semantic rule such as a forward code without ``{number}``) is reported as
:class:`ProfileError`, whose message reads like a compiler's::

    spec/yeastar.yaml:14: features.cfna.directions[1]: 'srv' is not one of ['server', 'phone']

so an engineer holding a capture can fix the YAML without reading Python.
"""
from __future__ import annotations


class ProfileError(ValueError):
    """A profile that cannot be loaded.

    ``file`` is the path as given (shown relative to the working directory when inside it),
    ``line`` the 1-based line of the offending node (None when unknown), ``field`` the dotted
    path of the field (``features.cfna.directions[1]``; ``(yaml)`` for syntax errors,
    ``(file)`` for I/O), ``problem`` what is wrong and what is allowed.
    """

    def __init__(self, file: str, line: int | None, field: str, problem: str) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.problem = problem
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {field}: {problem}")
