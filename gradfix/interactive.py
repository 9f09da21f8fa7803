"""For a person at the terminal: `apply --interactive` (accept or reject each hunk) and the progress bar.

Review works on the hunks of the unified diff (parsed with unidiff) of each file -- or, in a notebook, of
each changed cell -- and writes only what was accepted. The dialogue goes to stderr, so stdout keeps the
diff of `--dry-run`; colours and the progress bar appear only when stderr is a terminal.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from typing import Callable, TextIO

import typer
from unidiff import PatchSet

from gradfix.engine import Diagnostic, FileResult, parse
from gradfix.notebook import NotebookSource
from gradfix.patch import unified_diff
from gradfix.source import SourceError

PROGRESS_THRESHOLD = 100  # files: below this a run is over before a bar would help
ANSWERS = "[y]es, [n]o, [q]uit (reject the rest)"
_COLOURS = {"+": "green", "-": "red", "@": "cyan"}


@dataclass(frozen=True)
class Part:
    """A reviewable piece of a file: the whole file, or one notebook cell (`cell` is then its number)."""

    name: str
    cell: int | None
    shown_before: str  # what the person reads
    shown_after: str
    before: str  # what accepted hunks are applied to: the same lines as `shown_*`, line for line
    after: str


def _parts(result: FileResult) -> list[Part]:
    before, after = result.original, result.fixed
    if not isinstance(before, NotebookSource):
        return [Part(result.path, None, before.text, after.text, before.text, after.text)]
    old_chunks, new_chunks = before.chunks(before.text), after.chunks(after.text)
    old_cells, new_cells = before.cell_sources(before.text), after.cell_sources(after.text)
    return [Part(f"{result.path}:cell {number}", number, old_cells[number], new_cells[number],
                 old_chunks[number], new_chunks[number])
            for number in new_chunks if new_chunks[number] != old_chunks[number]]


class Reviewer:
    """Asks about each hunk, reading one answer per line from `answers`; end of input means quit."""

    def __init__(self, answers: TextIO):
        self.answers = answers
        self.quit = False

    def ask(self, hunk_text: str) -> bool:
        if self.quit:
            return False
        for line in hunk_text.splitlines():
            typer.secho(line, err=True, fg=_COLOURS.get(line[:1]))
        while True:
            typer.echo(f"Apply this change? {ANSWERS} ", err=True, nl=False)
            answer = self.answers.readline()
            if not self.answers.isatty():  # answers from a pipe or a file: show them, for the log
                typer.echo(answer.strip(), err=True)
            choice = answer.strip().lower()[:1] if answer else "q"
            if choice in ("y", "n", "q"):
                self.quit = choice == "q"
                return choice == "y"

    def review(self, result: FileResult) -> None:
        """Keep in `result.fixed` only the accepted hunks; findings in rejected hunks are no longer applied."""
        accepted_texts: dict[int | None, str] = {}
        accepted_lines: set[tuple[int | None, int]] = set()
        for part in _parts(result):
            hunks = list(PatchSet(unified_diff(part.name, part.shown_before, part.shown_after))[0])
            typer.secho(f"--- {part.name}", err=True, bold=True)
            accepted = [self.ask(str(hunk)) for hunk in hunks]
            accepted_texts[part.cell] = apply_hunks(part.before, part.after, hunks, accepted)
            accepted_lines |= {(part.cell, line) for hunk, taken in zip(hunks, accepted) if taken
                               for line in range(hunk.source_start, hunk.source_start + hunk.source_length)}
        result.fixed = _rebuilt(result, accepted_texts)
        result.diagnostics = [_applied_if(d, (d.cell, d.line) in accepted_lines) for d in result.diagnostics]


def _start(start: int, length: int) -> int:
    """0-based index where a hunk's range begins (an empty range names the line before it)."""
    return start if length == 0 else start - 1


def apply_hunks(before: str, after: str, hunks, accepted: list[bool]) -> str:
    """`before` with the accepted hunks of its diff to `after` applied; the rest stays as it was."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    out, position = [], 0
    for hunk, taken in zip(hunks, accepted):
        start = _start(hunk.source_start, hunk.source_length)
        out += old[position:start]
        if taken:
            target = _start(hunk.target_start, hunk.target_length)
            out += new[target:target + hunk.target_length]
        else:
            out += old[start:start + hunk.source_length]
        position = start + hunk.source_length
    return "".join(out + old[position:])


def _rebuilt(result: FileResult, texts: dict[int | None, str]):
    original = result.original
    if isinstance(original, NotebookSource):
        fixed = original.with_chunks({**original.chunks(original.text), **texts})
    else:
        fixed = original.with_text(texts[None])
    if fixed.text == original.text:
        return None
    try:
        parse(fixed.text)
    except SourceError as exc:
        typer.echo(f"{result.path}: error: the accepted changes alone do not parse ({exc}); not written", err=True)
        return None
    return fixed


def _applied_if(diagnostic: Diagnostic, accepted: bool) -> Diagnostic:
    return diagnostic if accepted or not diagnostic.applied else replace(diagnostic, applied=False)


def review(results: list[FileResult], answers: TextIO | None = None) -> list[FileResult]:
    """Ask about every hunk of every changed file (answers from stdin by default); returns those still changed."""
    reviewer = Reviewer(answers or sys.stdin)
    for result in results:
        reviewer.review(result)
    return [result for result in results if result.changed]


class ProgressBar:
    """`RunOptions.progress` for a terminal: a transient bar on stderr once a run has many files."""

    def __init__(self):
        self.bar = None
        self.task = None

    def __call__(self, done: int, total: int) -> None:
        if total < PROGRESS_THRESHOLD:
            return
        if self.bar is None:
            from rich.console import Console
            from rich.progress import Progress

            self.bar = Progress(console=Console(stderr=True), transient=True)
            self.task = self.bar.add_task("gradfix", total=total)
            self.bar.start()
        self.bar.update(self.task, completed=done)
        if done >= total:
            self.bar.stop()


def terminal_progress() -> ProgressBar | None:
    return ProgressBar() if sys.stderr.isatty() else None
