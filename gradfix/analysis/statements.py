"""Walking statements only. Classes, functions and assignments are statements, and a module has about ten
times fewer statements than nodes: finding them this way costs a few percent of `ast.walk` (which visits
every expression), and yields them in source order."""

from __future__ import annotations

import ast
import bisect
from typing import Iterator

from gradfix.source import line_starts

BLOCKS = ("body", "handlers", "orelse", "finalbody", "cases")
# The block fields of each node type that has any (most statements are simple: no blocks to look into). Not
# Lambda, IfExp or Expression: their `body` is one expression.
_BLOCKS_OF = {cls: tuple(f for f in BLOCKS if f in cls._fields)
              for cls in (getattr(ast, name) for name in dir(ast))
              if isinstance(cls, type) and issubclass(cls, (ast.stmt, ast.excepthandler, ast.match_case, ast.mod))
              and any(f in BLOCKS for f in cls._fields) and cls is not ast.Expression}


def walk_statements(node: ast.AST) -> Iterator[ast.stmt]:
    """Every statement inside `node` (in nested blocks, functions and classes too), in source order."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.stmt) and current is not node:
            yield current
        blocks = _BLOCKS_OF.get(type(current))
        if blocks:
            if len(blocks) == 1:
                stack.extend(reversed(getattr(current, blocks[0])))
            else:
                stack.extend(reversed([child for block in blocks for child in getattr(current, block)]))


def module_statements(tree: ast.Module) -> list[ast.stmt]:
    """Every statement of the module in source order, listed once per tree: several analyses ask for them."""
    found = tree.__dict__.get("_gradfix_statements")
    if found is None:
        found = tree._gradfix_statements = list(walk_statements(tree))
    return found


def scoped_statements(tree: ast.Module) -> list[tuple[ast.stmt, ast.AST, bool]]:
    """(statement, the innermost function it runs in or the module, whether it stands in a class body rather
    than in a function) for every statement of the module, listed once per tree: a body's statements come
    before those of the blocks nested in it."""
    found = tree.__dict__.get("_gradfix_scoped_statements")
    if found is not None:
        return found
    found = tree._gradfix_scoped_statements = []
    pending: list[tuple[list[ast.stmt], ast.AST, bool]] = [(tree.body, tree, False)]
    while pending:
        body, scope, in_class = pending.pop()
        for statement in body:
            found.append((statement, scope, in_class))
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
                pending.append((statement.body, statement, False))
            elif isinstance(statement, ast.ClassDef):
                pending.append((statement.body, scope, True))
            else:
                for block in _BLOCKS_OF.get(type(statement), ()):
                    children = getattr(statement, block)
                    if block in ("handlers", "cases"):
                        pending.extend((child.body, scope, in_class) for child in children)
                    elif children:
                        pending.append((children, scope, in_class))
    return found


def class_of_methods(tree: ast.Module) -> dict[int, ast.ClassDef]:
    """id of each method (a function in a class body) -> its class, nested classes too."""
    return {id(method): node for node in module_statements(tree) if isinstance(node, ast.ClassDef)
            for method in node.body if isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef))}


def spans_a_line(node: ast.AST, lines: list[int]) -> bool:
    """Does the node (a statement) run over one of `lines` (sorted)?"""
    first = bisect.bisect_left(lines, node.lineno)
    return first < len(lines) and lines[first] <= node.end_lineno


def lines_with(text: str, words: tuple[str, ...], starts: list[int] | None = None) -> list[int]:
    """The numbers of the lines (as `ast` counts them) that contain one of `words`: where to look for a call
    before walking any expression. Found with `str.find`, and numbered only where a word is (most files say few
    of them); `starts`: the text's `line_starts`, when the caller keeps them."""
    found = [start for word in words for start in _starts_of(text, word)]
    if not found:
        return []
    starts = line_starts(text) if starts is None else starts
    return sorted({bisect.bisect_right(starts, start) for start in found})


def _starts_of(text: str, word: str) -> Iterator[int]:
    start = text.find(word)
    while start != -1:
        yield start
        start = text.find(word, start + 1)
