"""For a person at the terminal: `apply --interactive` (accept or reject each finding's fix) and the progress bar.

Review asks about each finding: the finding, then the changed lines its fix makes -- the changes (`changes`:
a diff without context, line-for-line replacements cut into single lines) of each file, or in a notebook of
each changed cell, that lie on the finding's lines -- and writes only what was accepted. Findings whose fixes change the same
lines (`np.dot(x, w.numpy())`: GF101 and GF102 on one line) cannot be taken apart and are asked about
together; lines that belong to no finding (an added `import tensorflow as tf`) go with the accepted fixes.
The dialogue goes to stderr, so stdout keeps the diff of `--dry-run`; colours and the progress bar appear
only when stderr is a terminal.
"""

from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass, replace
from typing import TextIO

import typer

from gradfix.engine import Diagnostic, FileResult, parse
from gradfix.source import SourceError

PROGRESS_THRESHOLD = 100  # files: below this a run is over before a bar would help
ANSWERS = "[y]es, [n]o, [q]uit (reject the rest)"
_COLOURS = {"+": "green", "-": "red", "@": "cyan"}


@dataclass(frozen=True)
class PartChange:
    """A reviewable piece of a file (`gradfix.source.Part`: the whole file, or one notebook cell, `cell` then its
    number) before and after the fixes."""

    name: str
    cell: int | None
    shown_before: str  # what the person reads
    shown_after: str
    before: str  # what accepted hunks are applied to: the same lines as `shown_*`, line for line
    after: str


def _parts(result: FileResult) -> list[PartChange]:
    old, new = result.original.parts(), result.fixed.parts()
    return [PartChange(part.name(result.path), number, old[number].shown, part.shown, old[number].text, part.text)
            for number, part in new.items() if part.text != old[number].text]


class Reviewer:
    """Asks about each finding, reading one answer per line from `answers`; end of input means quit."""

    def __init__(self, answers: TextIO):
        self.answers = answers
        self.quit = False

    def ask(self, question: list[str]) -> bool:
        if self.quit:
            return False
        for line in question:
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
        """Keep in `result.fixed` only the accepted fixes; the findings of rejected ones are no longer applied."""
        accepted_texts: dict[int | None, str] = {}
        accepted_findings: set[int] = set()
        for part in _parts(result):
            hunks = changes(part.shown_before, part.shown_after)
            findings = [n for n, d in enumerate(result.diagnostics) if d.applied and d.cell == part.cell]
            typer.secho(f"--- {part.name}", err=True, bold=True)
            taken = [False] * len(hunks)
            for group, group_hunks in _questions(result.diagnostics, findings, hunks):
                header = [f"{location_of(result.diagnostics[n])}: {result.diagnostics[n].code} "
                          f"{result.diagnostics[n].message}" for n in group]
                if self.ask(header + [line for h in group_hunks for line in str(hunks[h]).splitlines()]):
                    accepted_findings |= group
                    for h in group_hunks:
                        taken[h] = True
            owned = {h for _, group_hunks in _questions(result.diagnostics, findings, hunks) for h in group_hunks}
            if any(taken):  # lines of no finding (an added import) go with the accepted fixes
                taken = [t or h not in owned for h, t in enumerate(taken)]
            accepted_texts[part.cell] = apply_hunks(part.before, part.after, hunks, taken)
        result.fixed = _rebuilt(result, accepted_texts)
        result.diagnostics = [_applied_if(d, n in accepted_findings and result.fixed is not None)
                              for n, d in enumerate(result.diagnostics)]


@dataclass(frozen=True)
class Change:
    """Changed lines, numbered as in a unified diff (an empty range names the line before it)."""

    source_start: int
    source_length: int
    target_start: int
    target_length: int
    removed: tuple[str, ...]
    added: tuple[str, ...]

    def __str__(self) -> str:
        return "".join([f"@@ -{self.source_start},{self.source_length} +{self.target_start},{self.target_length} @@\n",
                        *(f"-{line}" for line in self.removed), *(f"+{line}" for line in self.added)])


def changes(before: str, after: str) -> list[Change]:
    """The changed lines of `before` -> `after` without context, a line-for-line replacement cut into single
    lines: fixes of adjacent lines are then separate changes, as the findings they belong to."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    found = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        pieces = [(i, i + 1, j, j + 1) for i, j in zip(range(i1, i2), range(j1, j2))] \
            if i2 - i1 == j2 - j1 else [(i1, i2, j1, j2)]
        for a1, a2, b1, b2 in pieces:
            found.append(Change(a1 + 1 if a2 > a1 else a1, a2 - a1, b1 + 1 if b2 > b1 else b1, b2 - b1,
                                tuple(old[a1:a2]), tuple(new[b1:b2])))
    return found


def location_of(diagnostic: Diagnostic) -> str:
    place = f"cell {diagnostic.cell}:" if diagnostic.cell is not None else ""
    return f"{diagnostic.path}:{place}{diagnostic.line}:{diagnostic.col}"


def _questions(diagnostics: list[Diagnostic], findings: list[int], hunks) -> list[tuple[set[int], list[int]]]:
    """(findings, their hunks) for each question: findings whose fixes change a common hunk are one question.
    A hunk belongs to the findings on whose lines it lies (an insertion: on the line before or after it)."""
    owners = []
    for hunk in hunks:
        first = hunk.source_start
        last = first + max(hunk.source_length, 1) - (1 if hunk.source_length else 0)
        owners.append({n for n in findings if diagnostics[n].line <= last and first <= diagnostics[n].end_line})
    questions: list[tuple[set[int], list[int]]] = []
    for index, owned_by in enumerate(owners):
        if not owned_by:
            continue
        joined = [q for q in questions if q[0] & owned_by]
        group = set(owned_by).union(*(q[0] for q in joined))
        members = sorted([index, *(h for q in joined for h in q[1])])
        questions = [q for q in questions if q not in joined] + [(group, members)]
    return sorted(questions, key=lambda question: question[1][0])


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
    fixed = original.with_parts(texts)
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
