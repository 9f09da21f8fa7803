"""Source text as the user wrote it: decoded once, edited by character ranges, encoded back byte-exactly.

Every untouched byte must survive a rewrite (BOM, coding cookie, CRLF, tabs), so the engine never
re-renders a whole module: it applies edits to the decoded text and encodes with the original codec.

`SourceText` is also the document interface every caller uses, for a Python file here and for a notebook in
`gradfix.notebook.NotebookSource` (whose `text` is its code cells laid end to end): the text the rules see
(`text`), the same document with other text (`with_text`, `with_parts`), what a person reads (`diff`, `parts`,
`locate`), and what goes to disk (`to_bytes`, `file_diff`). `gradfix.document.read_document` picks the kind by the
file's name; nothing else asks which kind a document is.
"""

from __future__ import annotations

import ast
import codecs
import difflib
import io
import re
import tokenize
import warnings
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from gradfix.engine import Diagnostic

NO_NEWLINE = "\\ No newline at end of file\n"

LINE_BREAK = re.compile(r"\r\n|\r|\n")


def line_starts(text: str) -> list[int]:
    """Character offset of the start of each line, as `ast` counts lines (1-based line numbers index
    starts[line - 1])."""
    return [0, *(match.end() for match in LINE_BREAK.finditer(text))]


class SourceError(Exception):
    """A file that cannot be read as Python source; the message is shown to the user as is."""


@dataclass(frozen=True)
class Edit:
    """Replace text[start:end] (character offsets in the decoded source) with `text`."""

    start: int
    end: int
    text: str

    def overlaps(self, other: "Edit") -> bool:
        if self.start == self.end == other.start == other.end:
            return True
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class Part:
    """A piece of a document a person reviews on its own: the whole file (`cell` None) or one notebook cell.
    `shown` is it as written in the file, `text` as the rules see it (IPython lines masked), line for line."""

    cell: int | None
    shown: str
    text: str

    def name(self, path: str) -> str:
        """How the part is named in diffs and review headings: `model.py`, `experiment.ipynb:cell 3`."""
        return path if self.cell is None else f"{path}:cell {self.cell}"


Located = TypeVar("Located", bound="Diagnostic")


@dataclass(frozen=True)
class SourceText:
    """A decoded Python file plus what is needed to write it back identically: the document of a `.py` file."""

    text: str
    encoding: str = "utf-8"
    bom: bool = False

    @classmethod
    def from_bytes(cls, data: bytes) -> "SourceText":
        if b"\x00" in data:
            raise SourceError("contains a NUL byte (binary file?)")
        bom = data.startswith(codecs.BOM_UTF8)
        try:
            encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        except SyntaxError as exc:
            raise SourceError(f"bad encoding declaration: {exc}") from None
        if encoding == "utf-8-sig":
            encoding = "utf-8"
        try:
            text = data[3 if bom else 0 :].decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise SourceError(f"cannot decode as {encoding}: {exc}") from None
        return cls(text=text, encoding=encoding, bom=bom)

    def to_bytes(self, text: str | None = None) -> bytes:
        body = (self.text if text is None else text).encode(self.encoding)
        return codecs.BOM_UTF8 + body if self.bom else body

    def with_text(self, text: str) -> "SourceText":
        return SourceText(text=text, encoding=self.encoding, bom=self.bom)

    def parts(self) -> dict[int | None, Part]:
        """The pieces a person reviews separately, by cell number (None: the whole file)."""
        return {None: Part(None, self.text, self.text)}

    def with_parts(self, texts: dict[int | None, str]) -> "SourceText":
        """The document with the `text` of some parts replaced (the others as they are)."""
        return self.with_text(texts.get(None, self.text))

    def locate(self, diagnostic: Located) -> Located:
        """The diagnostic with its positions where the user sees them (in a notebook: in its cell)."""
        return diagnostic

    def diff(self, path: str, fixed: "SourceText") -> str:
        """What `--dry-run` shows: the diff of what the user reads (a BOM is part of line 1 for `git apply`)."""
        return self.file_diff(path, fixed)

    def file_diff(self, path: str, fixed: "SourceText") -> str:
        """The diff of the file as it is on disk, decoded (the undo record)."""
        bom = "\ufeff" if self.bom else ""
        return unified_diff(path, bom + self.text, bom + fixed.text)

    @cached_property
    def line_starts(self) -> list[int]:
        """Character offset of the start of each line (1-based line numbers index starts[line - 1])."""
        return line_starts(self.text)

    @cached_property
    def newline(self) -> str:
        match = LINE_BREAK.search(self.text)
        return match.group() if match else "\n"

    def line(self, lineno: int) -> str:
        starts = self.line_starts
        start = starts[lineno - 1]
        end = starts[lineno] if lineno < len(starts) else len(self.text)
        return self.text[start:end]

    def offset(self, lineno: int, byte_col: int) -> int:
        """Character offset of an `ast` position (ast columns count UTF-8 bytes, not characters)."""
        line = self.line(lineno)
        if not line.isascii():
            byte_col = len(line.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))
        return self.line_starts[lineno - 1] + byte_col

    def column(self, lineno: int, byte_col: int) -> int:
        """1-based character column of an `ast` position, for messages."""
        return self.offset(lineno, byte_col) - self.line_starts[lineno - 1] + 1


def parse(text: str) -> ast.Module:
    """The module's syntax tree, or a SourceError saying in one line why the text is not Python."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences etc. are the user's business
            return ast.parse(text)
    except SyntaxError as exc:
        raise SourceError(f"syntax error at line {exc.lineno}: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise SourceError(f"cannot parse: {exc}") from None


def unified_diff(path: str, before: str, after: str) -> str:
    """A `git apply`-compatible diff of one file (`a/` and `b/` prefixes, exact line endings kept)."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    name = path.lstrip("/")
    out = []
    for line in difflib.unified_diff(old, new, f"a/{name}", f"b/{name}", n=3):
        if line.startswith(("---", "+++")):
            line = line.rstrip("\n") + "\n"
        out.append(line)
        if not line.endswith("\n"):
            out.append("\n" + NO_NEWLINE)
    return "".join(out)


def apply_edits(text: str, edits: list[Edit]) -> str:
    """Apply non-overlapping edits; later offsets first so earlier offsets stay valid."""
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        text = text[: edit.start] + edit.text + text[edit.end :]
    return text
