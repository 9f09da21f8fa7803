"""The text surgery the fixes share (gradfix/edits.py): indentation and line endings kept, the lines a statement
owns, whole lines removed or moved, long calls wrapped."""

from __future__ import annotations

import ast

from gradfix.edits import (MAX_LINE, call_text, indentation, line_end, lines_before, owns_its_lines, reindent,
                           shares_last_line, starts_its_line, text_after, text_before, whole_lines)
from gradfix.source import SourceText, apply_edits

CODE = "def f(x):\r\n\tif x:\r\n\t\ty = x  # why\r\n\t\tz = 1; w = 2\r\n\treturn y"


def statements():
    tree = ast.parse(CODE)
    function = tree.body[0]
    branch = function.body[0]
    return SourceText(CODE), branch, *branch.body, function.body[1]


def test_positions_on_a_line():
    source, branch, y, z, w, returned = statements()
    assert indentation(source, y.lineno) == "\t\t" and text_before(source, y) == "\t\t"
    assert text_after(source, y) == "  # why\r\n" and text_after(source, returned) == ""
    assert starts_its_line(source, z) and not starts_its_line(source, w)
    assert owns_its_lines(source, y) and not owns_its_lines(source, z) and owns_its_lines(source, returned)
    assert shares_last_line(source, z) and not shares_last_line(source, w) and not shares_last_line(source, y)
    assert line_end(source, 5) == len(CODE) and source.text[slice(*whole_lines(source, y))] == "\t\ty = x  # why\r\n"


def test_inserted_lines_take_the_statement_indentation_and_line_ending():
    source, branch, y, *_ = statements()
    fixed = apply_edits(CODE, [lines_before(source, y, ["tape.watch(x)", "u = 0"])])
    assert "\tif x:\r\n\t\ttape.watch(x)\r\n\t\tu = 0\r\n\t\ty = x" in fixed
    assert lines_before(source, y, ["u = 0"], newline="\n").text == "\t\tu = 0\n"


def test_reindent_moves_whole_lines_or_refuses():
    assert reindent("    a = 1\n\n    b = (2,\n         3)\n", "    ", "        ") == \
        "        a = 1\n\n        b = (2,\n             3)\n"
    assert reindent("    s = '''\nx'''\n", "    ", "        ") is None


def test_calls_are_wrapped_past_the_line_length():
    assert call_text("w = f", ["a=1", "b=2"], "    ", "\n") == "w = f(a=1, b=2)"
    long_items = [f"argument_{n}={'x' * 20}" for n in range(4)]
    wrapped = call_text("w = f", long_items, "    ", "\r\n")
    assert wrapped.startswith("w = f(\r\n        argument_0=") and wrapped.endswith(",\r\n    )")
    assert all(len(line) <= MAX_LINE for line in wrapped.splitlines())
