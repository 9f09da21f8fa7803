"""Source text as the user wrote it: decoded once, edited by character ranges, encoded back byte-exactly.

Every untouched byte must survive a rewrite (BOM, coding cookie, CRLF, tabs), so the engine never
re-renders a whole module: it applies edits to the decoded text and encodes with the original codec.
"""

from __future__ import annotations

import codecs
import io
import re
import tokenize
from dataclasses import dataclass
from functools import cached_property

LINE_BREAK = re.compile(r"\r\n|\r|\n")


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
class SourceText:
    """A decoded source file plus what is needed to write it back identically."""

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

    @cached_property
    def line_starts(self) -> list[int]:
        """Character offset of the start of each line (1-based line numbers index starts[line - 1])."""
        return [0] + [m.end() for m in LINE_BREAK.finditer(self.text)]

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


def apply_edits(text: str, edits: list[Edit]) -> str:
    """Apply non-overlapping edits; later offsets first so earlier offsets stay valid."""
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        text = text[: edit.start] + edit.text + text[edit.end :]
    return text
