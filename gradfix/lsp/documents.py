"""A Python file or a notebook as the editor holds it, and the way back from the engine's coordinates to the editor's.

The engine sees one source (a notebook's code cells laid end to end, as the CLI reads a `.ipynb`); the editor has
one text document per file, or one per cell. Positions go back as 0-based lines and columns in the client's units
(UTF-16 unless negotiated otherwise). Every change the server proposes is computed as the new text of the whole
source, then sent as the few line-range edits that turn each editor document into its new text, so an edit can
never land at a stale or mis-converted position.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import cached_property
from pathlib import Path
from typing import Protocol

from lsprotocol import types

from gradfix.engine import Diagnostic
from gradfix.notebook import NotebookSource
from gradfix.source import Edit, SourceText


class PositionCodec(Protocol):
    """What pygls's position codec offers: the length of a string in the client's units."""

    def client_num_units(self, chars: str) -> int: ...


@dataclass(frozen=True)
class Cell:
    """A cell of a notebook document: its own text document, and whether it is Python code."""

    uri: str
    text: str
    python: bool


@dataclass(frozen=True)
class Document:
    """What one check is about: a file (`cells` empty) or a notebook. `uri` is the file's or the notebook's."""

    uri: str
    path: Path
    source: SourceText  # a NotebookSource for a notebook
    versions: tuple  # the editor's versions of the document (and of each cell): what a result is valid for
    cells: tuple[Cell, ...] = ()

    @classmethod
    def python(cls, uri: str, path: Path, text: str, versions: tuple) -> "Document":
        return cls(uri, path, SourceText(text), versions)

    @classmethod
    def notebook(cls, uri: str, path: Path, cells: list[Cell], versions: tuple) -> "Document":
        """The cells become an nbformat 4 notebook, read as the CLI reads a `.ipynb` (IPython lines masked,
        cells that are not Python left out); cell numbers count every cell, so number N is `cells[N - 1]`."""
        notebook = {"cells": [{"cell_type": "code" if cell.python else "markdown", "metadata": {},
                               "source": cell.text, **({"outputs": [], "execution_count": None} if cell.python else {})}
                              for cell in cells],
                    "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
        source = NotebookSource.from_bytes(json.dumps(notebook).encode("utf-8"))
        return cls(uri, path, source, versions, tuple(cells))

    def part_uri(self, cell: int | None) -> str:
        """The editor document a position in cell `cell` (None: in the file) refers to."""
        return self.uri if cell is None else self.cells[cell - 1].uri

    @cached_property
    def _parts(self) -> dict[int | None, SourceText]:
        """Each editor document's text, by the cell number the engine gives it (None: the file)."""
        return {number: SourceText(part.shown) for number, part in self.source.parts().items()}

    def range_of(self, diagnostic: Diagnostic, codec: PositionCodec) -> types.Range:
        """The LSP range of a diagnostic located in its cell (`SourceText.locate`) or file."""
        part = self._parts[diagnostic.cell]
        return types.Range(start=_position(part, diagnostic.line, diagnostic.col, codec),
                           end=_position(part, diagnostic.end_line, diagnostic.end_col, codec))

    def offset(self, line: int, col: int) -> int:
        """Character offset in the engine's source of a 1-based line and 1-based character column."""
        return self.source.line_starts[line - 1] + col - 1

    def edit(self, line: int, col: int, end_line: int, end_col: int, text: str) -> Edit:
        return Edit(self.offset(line, col), self.offset(end_line, end_col), text)

    def edits_to(self, new_text: str, codec: PositionCodec) -> dict[str, list[types.TextEdit]]:
        """The edits, by editor document, that turn this document into `new_text` (the engine's source)."""
        changes = {}
        for number, part in self.source.with_text(new_text).parts().items():
            edits = text_edits(self._parts[number], part.shown, codec)
            if edits:
                changes[self.part_uri(number)] = edits
        return changes


def _position(part: SourceText, line: int, col: int, codec: PositionCodec) -> types.Position:
    line_starts = part.line_starts
    if line > len(line_starts):  # just past the last line break
        return types.Position(line=len(line_starts) - 1, character=codec.client_num_units(part.line(len(line_starts))))
    text = part.line(line)[:col - 1]
    return types.Position(line=line - 1, character=len(text) if text.isascii() else codec.client_num_units(text))


def text_edits(old: SourceText, new: str, codec: PositionCodec) -> list[types.TextEdit]:
    """Line-range edits from `old` to `new`: the unchanged lines before and after are trimmed first, so a
    change in one place of a long file costs a comparison of the changed lines only."""
    if old.text == new:
        return []
    before, after = _lines(old), _lines(SourceText(new))
    head = 0
    while head < min(len(before), len(after)) and before[head] == after[head]:
        head += 1
    tail = 0
    while tail < min(len(before), len(after)) - head and before[-1 - tail] == after[-1 - tail]:
        tail += 1
    # autojunk (the default) keeps lines repeated all over a file (blank lines, `return x`) from making the
    # comparison quadratic; the opcodes still turn `old` into `new` exactly, if not always in the fewest edits.
    matcher = SequenceMatcher(None, before[head:len(before) - tail], after[head:len(after) - tail])
    return [types.TextEdit(range=types.Range(start=_line_start(old, head + i1, codec),
                                             end=_line_start(old, head + i2, codec)),
                           new_text="".join(after[head + j1:head + j2]))
            for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"]


def _lines(source: SourceText) -> list[str]:
    """The lines with their line breaks, split where the editor splits them (\\n, \\r\\n, \\r only)."""
    starts = source.line_starts
    lines = [source.text[start:end] for start, end in zip(starts, starts[1:])]
    return lines + [source.text[starts[-1]:]] if starts[-1] < len(source.text) else lines


def _line_start(source: SourceText, index: int, codec: PositionCodec) -> types.Position:
    """Start of the 0-based line `index`; past the last line of a text without a final line break, its end."""
    return _position(source, index + 1, 1, codec)


@dataclass
class Reported:
    """One finding as reported to the editor: in the engine's coordinates (for fixes) and the editor's."""

    found: Diagnostic  # positions in the engine's source (a notebook's cells end to end)
    located: Diagnostic  # positions in its cell (notebooks) or file
    uri: str
    lsp: types.Diagnostic = field(repr=False)
