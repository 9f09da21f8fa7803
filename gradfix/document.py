"""Which document a file is: a notebook (`.ipynb`) by its code cells, anything else as a Python file.

Both kinds answer the interface of `gradfix.source.SourceText` (text, with_text/with_parts, parts, locate, diff,
file_diff, to_bytes), so the runner, `apply`, `--interactive`, undo and the language server never ask which
kind they hold: this module is the one place that looks at the file name.
"""

from __future__ import annotations

from pathlib import PurePath

from gradfix.notebook import NotebookSource
from gradfix.source import SourceText

NOTEBOOK_SUFFIX = ".ipynb"
DOCUMENT_SUFFIXES = (".py", NOTEBOOK_SUFFIX)
NOTEBOOK_SIZE_ALLOWANCE = 50  # times max-file-size


def _is_notebook(path) -> bool:
    return PurePath(str(path)).suffix == NOTEBOOK_SUFFIX


def is_document(path) -> bool:
    """A file gradfix reads: a Python file or a notebook."""
    return PurePath(str(path)).suffix in DOCUMENT_SUFFIXES


def max_bytes(path, max_file_size: int) -> int:
    """How big a file may be to be read: a notebook gets room for its outputs (plots make most of its size)."""
    return max_file_size * NOTEBOOK_SIZE_ALLOWANCE if _is_notebook(path) else max_file_size


def read_document(path, data: bytes) -> SourceText:
    """A file's contents as the engine reads them: a notebook by its code cells, anything else as Python."""
    return NotebookSource.from_bytes(data) if _is_notebook(path) else SourceText.from_bytes(data)
