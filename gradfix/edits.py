"""Text surgery the fixes share: which lines a statement owns, indentation, line endings, inserted and moved
lines, line length, and where an added import goes.

Fixes are text edits on the user's source (`gradfix.source.Edit`), so every byte around them stays as written;
these helpers keep the few ways of cutting that text in one place, in the file's own indentation and line
endings. Positions are `ast` positions (1-based lines, UTF-8 byte columns), as the analysis gives them.
"""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING

from gradfix.source import LINE_BREAK, Edit, SourceText

if TYPE_CHECKING:
    from gradfix.analysis import FileAnalysis

MAX_LINE = 100  # the longest line a fix writes on one line (and the longest code a message quotes whole)
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)?")


def indentation(source: SourceText, lineno: int) -> str:
    """The spaces and tabs the line starts with."""
    line = source.line(lineno)
    return line[: len(line) - len(line.lstrip(" \t"))]


def line_ending(source: SourceText, lineno: int) -> str:
    """The line's own line break; the file's usual one for a last line without."""
    ending = LINE_BREAK.search(source.line(lineno))
    return ending.group() if ending else source.newline


def line_end(source: SourceText, lineno: int) -> int:
    """Offset just past the line's line break (the start of the next line, or the end of the text)."""
    return source.line_starts[lineno] if lineno < len(source.line_starts) else len(source.text)


def whole_lines(source: SourceText, node: ast.AST) -> tuple[int, int]:
    """(start, end) offsets of the lines the node is on, the last line break included."""
    return source.line_starts[node.lineno - 1], line_end(source, node.end_lineno)


def text_before(source: SourceText, node: ast.AST) -> str:
    """What precedes the node on its first line: its indentation when it starts its line."""
    return source.text[source.line_starts[node.lineno - 1]:source.offset(node.lineno, node.col_offset)]


def text_after(source: SourceText, node: ast.AST) -> str:
    """What follows the node on its last line, the line break included."""
    return source.text[source.offset(node.end_lineno, node.end_col_offset):line_end(source, node.end_lineno)]


def starts_its_line(source: SourceText, node: ast.AST) -> bool:
    """Nothing but indentation before the node, so lines can be inserted above it."""
    return text_before(source, node).strip() == ""


def owns_its_lines(source: SourceText, statement: ast.stmt) -> bool:
    """Nothing but indentation before the statement and nothing but a comment after it: its lines can be moved or
    removed whole."""
    after = text_after(source, statement).strip()
    return starts_its_line(source, statement) and (not after or after.startswith("#"))


def shares_last_line(source: SourceText, statement: ast.stmt) -> bool:
    """Other code (not a `;` or a comment) follows the statement on its last line."""
    rest = text_after(source, statement).strip()
    return rest not in ("", ";") and not rest.startswith("#")


def lines_before(source: SourceText, statement: ast.stmt, lines: list[str], newline: str | None = None) -> Edit:
    """Insert `lines` above a statement that starts its line, in its indentation and with its line's line ending
    (or `newline`)."""
    start = source.line_starts[statement.lineno - 1]
    indent = indentation(source, statement.lineno)
    newline = newline or line_ending(source, statement.lineno)
    return Edit(start, start, "".join(f"{indent}{line}{newline}" for line in lines))


def reindent(text: str, outer: str, inner: str) -> str | None:
    """Whole lines moved from indentation `outer` to `inner` (blank lines as they are); None when a line is not
    indented by `outer` (a continuation line or a multi-line string would change)."""
    result = []
    for line in (m.group() for m in _LINE.finditer(text) if m.group()):
        if not line.strip():
            result.append(line)
        elif line.startswith(outer):
            result.append(inner + line[len(outer):])
        else:
            return None
    return "".join(result)


def fits_on_a_line(code: str, indent: str = "") -> bool:
    return "\n" not in code and len(indent) + len(code) <= MAX_LINE


def call_text(head: str, items: list[str], indent: str, newline: str) -> str:
    """`head(a, b)` on one line when it fits at `indent`, else one item per line, one level deeper, with a
    trailing comma."""
    one_line = f"{head}({', '.join(items)})"
    if fits_on_a_line(one_line, indent):
        return one_line
    inner = indent + " " * 4
    return f"{head}({newline}" + f",{newline}".join(inner + item for item in items) + f",{newline}{indent})"


def import_edit(analysis: FileAnalysis, statement: str) -> Edit:
    """`statement` (an import) after the module's preamble, in its newline style: after its docstring, its
    leading imports and its environment set-up (`os.environ[...] = ...`, which TensorFlow reads when imported:
    `TF_USE_LEGACY_KERAS`, `TF_CPP_MIN_LOG_LEVEL`, `CUDA_VISIBLE_DEVICES`). The preamble ends at the first
    definition or block that runs code (`def`, `class`, `with`, loops)."""
    body = analysis.tree.body
    anchor = None
    for index, node in enumerate(body):
        is_docstring = index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) \
            and isinstance(node.value.value, str)
        if isinstance(node, _END_OF_PREAMBLE):
            break
        if is_docstring or isinstance(node, (ast.Import, ast.ImportFrom)) or _sets_environment(analysis, node):
            anchor = node
    source = analysis.source
    newline = source.newline
    line = f"{statement}{newline}"
    if anchor is None:
        first = body[0].lineno if body else len(source.line_starts)
        offset = source.line_starts[first - 1] if body else len(source.text)
        return Edit(offset, offset, line)
    if anchor.end_lineno < len(source.line_starts):
        offset = source.line_starts[anchor.end_lineno]
        return Edit(offset, offset, line)
    return Edit(len(source.text), len(source.text), newline + statement)


_END_OF_PREAMBLE = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.With, ast.AsyncWith, ast.For,
                    ast.AsyncFor, ast.While)
_ENVIRONMENT_CALLS = frozenset({"os.environ.setdefault", "os.environ.update", "os.putenv"})


def _sets_environment(analysis: FileAnalysis, statement: ast.stmt) -> bool:
    """`os.environ["X"] = ...`, `os.environ.setdefault(...)`, `os.putenv(...)` — also under an `if`/`try`."""
    for node in ast.walk(statement):
        if isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Subscript) and analysis.qualname(t.value) == "os.environ" for t in targets):
                return True
        elif isinstance(node, ast.Call) and analysis.qualname(node.func) in _ENVIRONMENT_CALLS:
            return True
    return False
