"""Walking statements only. Classes, functions and assignments are statements, and a module has about ten
times fewer statements than nodes: finding them this way costs a few percent of `ast.walk` (which visits
every expression), and yields them in source order."""

from __future__ import annotations

import ast
import re
from typing import Iterator

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


def lines_with(text: str, words: tuple[str, ...]) -> list[int]:
    """The numbers of the lines (as `ast` counts them: \\n, \\r\\n or \\r end a line) that contain one of
    `words`: where to look for a call before walking any expression."""
    return [number for number, line in enumerate(_LINE_BREAK.split(text), 1) if any(word in line for word in words)]


_LINE_BREAK = re.compile(r"\r\n|\r|\n")
