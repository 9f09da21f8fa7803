"""Jupyter notebooks as one virtual Python source, so the engine and every rule work on them unchanged.

The code cells are laid end to end, each after a marker line naming the cell; IPython lines (`%magic`,
`!shell`, `x = !cmd`, `obj?`) in a cell that does not parse as Python are masked as `pass` so it does.
Findings are mapped back to `cell N, line L`. Writing back replaces only the JSON text of the `source`
of cells whose code changed -- outputs, metadata, key order, indentation and every other byte of the
file stay as they were. Cells that are not Python (`%%bash`, ...) or do not parse are left out.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import PurePath

from gradfix.engine import Diagnostic, FileResult, FixEdit, parse
from gradfix.source import SourceError, SourceText

NOTEBOOK_SUFFIX = ".ipynb"
NOTEBOOK_SIZE_ALLOWANCE = 50  # times max-file-size
CELL_MARKER = "# gradfix-notebook-cell "
MAGIC_MARKER = "pass  # gradfix-notebook-magic "
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun"})  # `%%time` runs its body as Python
_IPYTHON_LINE = re.compile(r"^\s*(?:[%!?]|[\w.]+\s*=\s*[%!])|\?\s*$")
_MASKED_LINE = re.compile(r"^[ \t]*" + re.escape(MAGIC_MARKER) + r"(\d+)$")
_CELL_LINE = re.compile(r"^" + re.escape(CELL_MARKER) + r"(\d+)\r?\n", re.MULTILINE)
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def is_notebook(path) -> bool:
    return PurePath(str(path)).suffix == NOTEBOOK_SUFFIX


def max_bytes(path, max_file_size: int) -> int:
    """How big a file may be to be read: a notebook gets room for its outputs (plots make most of its size)."""
    return max_file_size * NOTEBOOK_SIZE_ALLOWANCE if is_notebook(path) else max_file_size


@dataclass(frozen=True)
class Cell:
    """A code cell as found in the file: its number (1-based, counting every cell) and its `source`."""

    number: int
    source: str
    span: tuple[int, int]  # character range of the `source` value in the notebook's JSON text
    lines: tuple[tuple[int, int], ...] | None  # ranges of the list items, or None when `source` is one string


@dataclass(frozen=True)
class Notebook:
    raw: str  # the JSON text, decoded
    cells: tuple[Cell, ...]  # code cells only
    ascii_only: bool  # the file escapes non-ASCII characters (`\u00e9`) rather than writing them

    def render(self, sources: dict[int, str]) -> str:
        """The JSON text with the `source` of the cells in `sources` replaced, in the file's own style."""
        text = self.raw
        for cell in sorted(self.cells, key=lambda c: c.span, reverse=True):
            new = sources.get(cell.number, cell.source)
            if new != cell.source:
                start, end = cell.span
                text = text[:start] + self._source_json(cell, new) + text[end:]
        return text

    def _source_json(self, cell: Cell, source: str) -> str:
        if cell.lines is None:
            return json.dumps(source, ensure_ascii=self.ascii_only)
        start, end = cell.span
        first, last = cell.lines[0], cell.lines[-1]
        opening, closing = self.raw[start + 1:first[0]], self.raw[last[1]:end - 1]
        separator = self.raw[first[1]:cell.lines[1][0]] if len(cell.lines) > 1 else "," + opening
        kept = {}  # unchanged lines keep their exact JSON spelling
        for line_start, line_end in cell.lines:
            kept.setdefault(json.loads(self.raw[line_start:line_end]), self.raw[line_start:line_end])
        items = [kept.get(line) or json.dumps(line, ensure_ascii=self.ascii_only)
                 for line in source.splitlines(keepends=True)]
        return "[" + opening + separator.join(items) + closing + "]"


def parse_notebook(raw: str) -> Notebook:
    """Find the code cells of an nbformat 4 notebook and where their `source` lies in the JSON text."""
    try:
        members = _members(raw, _skip(raw, 0))
        cells_span = next((span for key, span in members if key == "cells"), None)
        if cells_span is None:
            raise SourceError("not a Jupyter notebook (nbformat 4): no `cells`")
        cells = []
        for number, cell_span in enumerate(_items(raw, cells_span[0]), start=1):
            cell = dict(_members(raw, cell_span[0]))
            if "source" not in cell or "cell_type" not in cell:
                raise SourceError(f"cell {number} has no `cell_type` or `source`")
            if json.loads(raw[slice(*cell["cell_type"])]) == "code":
                cells.append(_cell(raw, number, cell["source"]))
    except (ValueError, IndexError) as exc:  # json.JSONDecodeError is a ValueError
        raise SourceError(f"not valid notebook JSON: {exc}") from None
    return Notebook(raw=raw, cells=tuple(cells), ascii_only=raw.isascii() and "\\u" in raw)


def _cell(raw: str, number: int, span: tuple[int, int]) -> Cell:
    value = json.loads(raw[slice(*span)])
    if isinstance(value, str):
        return Cell(number, value, span, None)
    if not (isinstance(value, list) and all(isinstance(line, str) for line in value)):
        raise SourceError(f"cell {number}: `source` is neither a string nor a list of strings")
    return Cell(number, "".join(value), span, tuple(_items(raw, span[0])))


def _skip(text: str, position: int) -> int:
    return _WHITESPACE.match(text, position).end()


def _value_end(text: str, position: int) -> int:
    return _DECODER.raw_decode(text, position)[1]


def _members(text: str, position: int) -> list[tuple[str, tuple[int, int]]]:
    """(key, value range) of each member of the JSON object starting at `position`."""
    if text[position] != "{":
        raise ValueError(f"expected an object at offset {position}")
    members = []
    position = _skip(text, position + 1)
    while text[position] != "}":
        key, position = json.decoder.scanstring(text, position + 1)
        position = _skip(text, position)
        if text[position] != ":":
            raise ValueError(f"expected ':' at offset {position}")
        start = _skip(text, position + 1)
        end = _value_end(text, start)
        members.append((key, (start, end)))
        position = _skip(text, end)
        if text[position] == ",":
            position = _skip(text, position + 1)
    return members


def _items(text: str, position: int) -> list[tuple[int, int]]:
    """Range of each item of the JSON array starting at `position`."""
    if text[position] != "[":
        raise ValueError(f"expected an array at offset {position}")
    items = []
    position = _skip(text, position + 1)
    while text[position] != "]":
        end = _value_end(text, position)
        items.append((position, end))
        position = _skip(text, end)
        if text[position] == ",":
            position = _skip(text, position + 1)
    return items


# --- the virtual Python source -----------------------------------------------------------------------

def _python_of(cell: Cell, masked: list[str]) -> str | None:
    """The cell as parseable Python (IPython lines masked, their originals appended to `masked`), or None."""
    source = cell.source
    first_line = source.lstrip().split("\n", 1)[0]
    if first_line.startswith("%%") and first_line[2:].split(" ", 1)[0].strip() not in PYTHON_CELL_MAGICS:
        return None
    try:
        parse(source)
        return source
    except SourceError:
        pass
    lines = source.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if _IPYTHON_LINE.search(line.rstrip("\r\n")):
            body = line.rstrip("\r\n")
            indent = body[:len(body) - len(body.lstrip())]
            lines[index] = f"{indent}{MAGIC_MARKER}{len(masked)}{line[len(body):]}"
            masked.append(body)
    python = "".join(lines)
    try:
        parse(python)
    except SourceError:
        return None
    return python


@dataclass(frozen=True)
class NotebookSource(SourceText):
    """A notebook whose `text` is the virtual Python source of its code cells; `to_bytes` gives the notebook."""

    notebook: Notebook | None = None
    masked: tuple[str, ...] = ()  # original IPython lines, by the number in their `pass` placeholder
    first_lines: tuple[tuple[int, int], ...] = field(default=())  # (virtual line of a cell's first line, cell)

    @classmethod
    def from_bytes(cls, data: bytes) -> "NotebookSource":
        outer = SourceText.from_bytes(data)
        notebook = parse_notebook(outer.text)
        masked: list[str] = []
        parts, first_lines, line = [], [], 1
        for cell in notebook.cells:
            python = _python_of(cell, masked) if cell.source.strip() else None
            if python is None:
                continue
            if not python.endswith(("\n", "\r")):
                python += "\n"
            parts.append(f"{CELL_MARKER}{cell.number}\n{python}")
            first_lines.append((line + 1, cell.number))
            line += 1 + python.count("\n")
        return cls(text="".join(parts), encoding=outer.encoding, bom=outer.bom, notebook=notebook,
                   masked=tuple(masked), first_lines=tuple(first_lines))

    def with_text(self, text: str) -> "NotebookSource":
        return replace(self, text=text)

    def to_bytes(self, text: str | None = None) -> bytes:
        return SourceText(self.json_text(text), self.encoding, self.bom).to_bytes()

    def json_text(self, text: str | None = None) -> str:
        return self.notebook.render(self.cell_sources(self.text if text is None else text))

    def chunks(self, text: str) -> dict[int, str]:
        """The Python of each cell in a (possibly fixed) virtual text, IPython lines still masked.
        A chunk has as many lines as the cell's source, line for line."""
        parts = _CELL_LINE.split(text)
        return {int(number): python for number, python in zip(parts[1::2], parts[2::2])}

    def with_chunks(self, chunks: dict[int, str]) -> "NotebookSource":
        return self.with_text("".join(f"{CELL_MARKER}{number}\n{python}" for number, python in chunks.items()))

    def cell_sources(self, text: str) -> dict[int, str]:
        """Each cell's source as it would be written, from a (possibly fixed) virtual text."""
        originals = {cell.number: cell.source for cell in self.notebook.cells}
        sources = {}
        for number, python in self.chunks(text).items():
            source = "".join(self._unmask(line) for line in python.splitlines(keepends=True))
            if not originals[number].endswith(("\n", "\r")) and source.endswith("\n"):
                source = source[:-2] if source.endswith("\r\n") else source[:-1]
            sources[number] = source
        return sources

    def _unmask(self, line: str) -> str:
        body = line.rstrip("\r\n")
        match = _MASKED_LINE.match(body)
        return self.masked[int(match.group(1))] + line[len(body):] if match else line

    def cell_line(self, virtual_line: int) -> tuple[int, int]:
        """(cell number, line within the cell) of a line of the virtual text."""
        index = bisect.bisect_right(self.first_lines, (virtual_line, float("inf"))) - 1
        first, number = self.first_lines[max(index, 0)]
        return number, virtual_line - first + 1


def source_from_bytes(path, data: bytes) -> SourceText:
    """A file's contents as the engine reads them: a notebook by its code cells, anything else as Python."""
    return NotebookSource.from_bytes(data) if is_notebook(path) else SourceText.from_bytes(data)


def in_cells(result: FileResult) -> FileResult:
    """Findings of a notebook with positions in cells (`cell 3, line 2`) instead of the virtual text."""
    source = result.original
    if not isinstance(source, NotebookSource):
        return result

    def edit_in_cell(edit: FixEdit) -> FixEdit:
        cell, line = source.cell_line(edit.line)
        return replace(edit, cell=cell, line=line, end_line=line + edit.end_line - edit.line)

    def located(d: Diagnostic) -> Diagnostic:
        cell, line = source.cell_line(d.line)
        return replace(d, cell=cell, line=line, end_line=line + d.end_line - d.line,
                       fix_edits=tuple(map(edit_in_cell, d.fix_edits)))

    result.diagnostics = [located(d) for d in result.diagnostics]
    return result


def readable_diff(path: str, before: SourceText, after: SourceText) -> str:
    """What `--dry-run` shows: for a notebook, a diff of each changed cell's source."""
    from gradfix.patch import source_diff, unified_diff  # with unidiff: only runs that diff pay its import

    if not isinstance(before, NotebookSource):
        return source_diff(path, before, after)
    old, new = before.cell_sources(before.text), after.cell_sources(after.text)
    return "".join(unified_diff(f"{path}:cell {number}", old[number], new[number])
                   for number in sorted(new) if new[number] != old[number])


def file_diff(path: str, before: SourceText, after: SourceText) -> str:
    """The diff of the file as it is on disk (the undo record): for a notebook, of its JSON text."""
    from gradfix.patch import source_diff, unified_diff

    if not isinstance(before, NotebookSource):
        return source_diff(path, before, after)
    bom = "\ufeff" if before.bom else ""
    return unified_diff(path, bom + before.json_text(), bom + after.json_text())
