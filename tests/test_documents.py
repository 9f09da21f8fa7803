"""The document interface that Python files and notebooks share (`gradfix.source.SourceText`,
`gradfix.notebook.NotebookSource`, `gradfix.document.read_document`): what the rules see, the same document with
other text, what a person reviews, the diffs, and the bytes written back."""

from __future__ import annotations

import re
from pathlib import Path

from gradfix.document import is_document, max_bytes, read_document
from gradfix.engine import Diagnostic, FixEdit
from gradfix.rules import Severity
from gradfix.source import SourceText
from test_notebooks import FIXED_LINE, experiment

GRADFIX = Path(__file__).resolve().parent.parent / "gradfix"


def python_document() -> SourceText:
    data = b"\xef\xbb\xbf" + "# -*- coding: utf-8 -*-\r\nx = 'caf\xe9'\r\ny = np.tanh(x)\r\n".encode("utf-8")
    return read_document("model.py", data)


def test_python_document_is_one_part_and_keeps_bom_and_crlf():
    document = python_document()
    fixed = document.with_parts({None: document.text.replace("np.tanh", "tf.math.tanh")})
    part, = document.parts().values()
    assert (part.cell, part.shown, part.text) == (None, document.text, document.text)
    assert fixed.to_bytes() == document.to_bytes().replace(b"np.tanh", b"tf.math.tanh")
    assert fixed.to_bytes().startswith(b"\xef\xbb\xbf") and b"\r\n" in fixed.to_bytes()
    diff = document.diff("model.py", fixed)
    assert diff == document.file_diff("model.py", fixed)
    assert "-y = np.tanh(x)\r\n+y = tf.math.tanh(x)\r\n" in diff and diff.startswith("--- a/model.py\n")
    diagnostic = Diagnostic("model.py", "GF101", "m", Severity.ERROR, 3, 5, 3, 12)
    assert document.locate(diagnostic) is diagnostic


def test_notebook_parts_are_its_python_cells_shown_as_written_and_seen_masked():
    document = read_document("experiment.ipynb", experiment().encode())
    parts = document.parts()
    assert sorted(parts) == [2, 3, 4]
    assert parts[4].shown.endswith("files = !ls\n%time out = layer(tf.ones((2, 3)))")
    assert "!ls" not in parts[4].text and parts[4].text.count("\n") == parts[4].shown.count("\n") + 1
    assert parts[3].name("experiment.ipynb") == "experiment.ipynb:cell 3"
    fixed = document.with_parts({3: parts[3].text.replace("np.tanh", "tf.math.tanh")})
    assert fixed.parts()[3].shown.endswith(FIXED_LINE) and fixed.parts()[4] == parts[4]
    assert fixed.to_bytes() == experiment().encode().replace(b"return np.tanh", b"return tf.math.tanh")


def test_notebook_diffs_show_cells_and_record_the_json():
    document = read_document("experiment.ipynb", experiment().encode())
    fixed = document.with_text(document.text.replace("np.tanh(inputs)", "tf.math.tanh(inputs)"))
    shown = document.diff("experiment.ipynb", fixed)
    assert shown.startswith("--- a/experiment.ipynb:cell 3\n+++ b/experiment.ipynb:cell 3\n")
    assert f"+{FIXED_LINE}" in shown
    recorded = document.file_diff("experiment.ipynb", fixed)
    assert recorded.startswith("--- a/experiment.ipynb\n") and '+    "        return tf.math.tanh' in recorded


def test_notebook_locates_findings_and_their_edits_in_cells():
    document = read_document("experiment.ipynb", experiment().encode())
    line = document.text.splitlines().index("        return np.tanh(inputs) * 2.0") + 1
    edit = FixEdit(line, 16, line, 23, "tf.math.tanh")
    located = document.locate(Diagnostic("experiment.ipynb", "GF101", "m", Severity.ERROR, line, 16, line, 31,
                                         fix_edits=(edit,)))
    assert (located.cell, located.line, located.end_line) == (3, 3, 3)
    assert (located.fix_edits[0].cell, located.fix_edits[0].line) == (3, 3)


def test_which_files_are_documents():
    assert is_document("a/b.py") and is_document("a.ipynb") and not is_document("a.txt")
    assert max_bytes("a.ipynb", 10) > max_bytes("a.py", 10) == 10


def test_only_the_document_modules_know_what_a_notebook_is():
    """apply, the diff, --interactive, undo and the language server ask the document, never its kind."""
    kind_checks = re.compile(r"isinstance\([^)]*NotebookSource|\.ipynb\"|NOTEBOOK_SUFFIX|is_notebook")
    offenders = [str(path.relative_to(GRADFIX)) for path in GRADFIX.rglob("*.py")
                 if path.name not in ("document.py", "notebook.py") and kind_checks.search(path.read_text())]
    assert offenders == []
