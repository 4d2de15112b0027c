"""The progress display of ``fsync test``: a rich progress bar on stderr, only on a terminal.

stdout carries the summary (and nothing else), so a script can read it while an engineer
at a terminal watches the bar; in CI (stderr not a TTY) nothing is drawn.
"""
from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from fsync_model.dut.runner import NoProgress
from fsync_model.dut.runner import Progress as ProgressProtocol
from fsync_model.dut.verdicts import CaseResult


class RichProgress:
    """A bar over the cases and a line saying what runs now."""

    def __init__(self, stream: TextIO) -> None:
        self._progress = Progress(
            TextColumn("[bold]fsync test[/]"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("{task.description}"),
            console=Console(file=stream), transient=True)
        self._task = self._progress.add_task("connecting", total=None)
        self._failed = 0
        self._progress.start()

    def start(self, total: int) -> None:
        self._progress.update(self._task, total=total)

    def status(self, text: str) -> None:
        prefix = f"[red]{self._failed} failed[/] " if self._failed else ""
        self._progress.update(self._task, description=prefix + text[:80])

    def case_done(self, result: CaseResult) -> None:
        if result.verdict == "failed":
            self._failed += 1
        if result.case.kind != "setup":
            self._progress.advance(self._task)

    def close(self) -> None:
        self._progress.stop()


def progress_for(stream: TextIO | None = None) -> ProgressProtocol:
    """RichProgress when ``stream`` (default stderr) is a terminal, else nothing."""
    stream = stream if stream is not None else sys.stderr
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return RichProgress(stream) if tty else NoProgress()
