"""GF403: the forward pass or the loss computed outside the `GradientTape` block the gradient is taken from."""

from __future__ import annotations

import ast
import re

from gradfix.analysis.tapes import bound_names, names_read
from gradfix.rules import FixSafety, Rule, Span
from gradfix.source import Edit

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)?")
_STATEMENT_LISTS = ("body", "orelse", "finalbody")


class ComputedOutsideTape(Rule):
    code = "GF403"
    name = "computed-outside-gradient-tape"
    summary = "prediction or loss computed before/after the `GradientTape` block that the gradient is taken from"
    fix_safety = FixSafety.UNSAFE
    severity = "error"
    triggers = ("GradientTape",)
    explanation = """
## Why gradients stop
A tape records only what runs inside its `with` block. A forward pass computed before the block
(`preds = model(x)` and then `with tf.GradientTape() as tape: loss = loss_fn(y, preds)`) or a loss computed
after it leaves the tape without any operation connecting the variables to the target:
`tape.gradient(loss, model.trainable_variables)` is a list of `None`.

## What the fix does
Reports every statement that computes, outside the block, a value on the way from the differentiated
model to the gradient's target. With `--unsafe-fixes`, when those statements sit directly before (or
directly after) the block, they are moved into it, at its top (or its end). Statements elsewhere, a
frozen feature extractor or a teacher model whose variables are not differentiated, are not touched.
The fix is marked unsafe because computing more under the tape costs memory, and because code computed
outside a tape on purpose is indistinguishable from code computed there by mistake.

## Example
```python
# before
preds = model(x, training=True)
with tf.GradientTape() as tape:
    loss = loss_fn(y, preds)
grads = tape.gradient(loss, model.trainable_variables)
# after (--unsafe-fixes)
with tf.GradientTape() as tape:
    preds = model(x, training=True)
    loss = loss_fn(y, preds)
grads = tape.gradient(loss, model.trainable_variables)
```

## Keras 3 vs Keras 2
The same in both: recording is a TensorFlow matter.
"""

    def check(self, analysis):
        inside_some_tape = {id(n) for tape in analysis.tapes for statement in tape.body for n in ast.walk(statement)}
        for tape in analysis.tapes:
            if not tape.requests or not tape.owners:
                continue
            start = (tape.node.lineno, tape.node.col_offset)
            before = _outside_computations(tape, tape.free_path_names, inside_some_tape,
                                           lambda bindings: _last_before(bindings, start))
            if before:
                yield self._finding(analysis, tape, before, "before the GradientTape block starts")
            end = (tape.node.end_lineno, tape.node.end_col_offset)
            after: dict[int, ast.stmt] = {}
            for request in tape.requests:
                if tape.contains(request.call):
                    continue
                statements = _outside_computations(
                    tape, names_read(request.target) - tape.names_bound_inside, inside_some_tape,
                    lambda bindings: _first_between(bindings, end, (request.call.lineno, request.call.col_offset)))
                after.update((id(s), s) for s in statements)
                if not statements and _is_computation(request.target) and tape.depends_on_sources(request.target):
                    yield self.finding(request.target, f"`{analysis.segment(request.target)}` is computed outside "
                                       "the GradientTape block, which never records it: its gradient is None; "
                                       "compute it inside the block")
            if after:
                yield self._finding(analysis, tape, sorted(after.values(), key=lambda s: s.lineno),
                                    "after the GradientTape block has ended")

    def _finding(self, analysis, tape, statements: list[ast.stmt], where: str):
        listed = ", ".join(f"`{_first_line(analysis.segment(s))}` (line {s.lineno})" for s in statements)
        target = analysis.segment(tape.requests[0].target)
        it = "it" if len(statements) == 1 else "them"
        message = (f"{listed} {'runs' if len(statements) == 1 else 'run'} {where}: the tape never records {it}, "
                   f"so the gradient of `{target}` is None; compute {it} inside the block")
        edit, region = _move_into_block(analysis, tape, statements)
        if edit is None:
            return self.finding(statements[0], message)
        return self.finding(region, message, self.fix(edit))


def _outside_computations(tape, names: set[str], inside_some_tape: set[int], reaching) -> list[ast.stmt]:
    """Statements outside every tape that compute from the sources a value the target needs: for each name,
    the binding `reaching` picks among the name's bindings, then the same for the names it reads."""
    found: dict[int, ast.stmt] = {}
    pending = set(names)
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        seen.add(name)
        binding = reaching(tape.bindings.get(name, []))
        if not isinstance(binding, (ast.Assign, ast.AnnAssign)) or id(binding) in inside_some_tape \
                or set(bound_names(binding)) & (tape.source_values | tape.watched_names) \
                or _inference_call(binding.value) or not tape.computes_from_sources(binding.value):
            continue  # making the sources outside the tape, or running a frozen part, is how it should be
        found[id(binding)] = binding
        pending |= names_read(binding.value) - seen
    return sorted(found.values(), key=lambda s: s.lineno)


def _inference_call(value: ast.AST) -> bool:
    """`self.teacher(x, training=False)`: a part run in inference mode on purpose (a frozen teacher)."""
    return any(isinstance(n, ast.keyword) and n.arg == "training" and isinstance(n.value, ast.Constant)
               and n.value.value is False for n in ast.walk(value))


def _last_before(bindings: list[ast.AST], position: tuple[int, int]) -> ast.AST | None:
    """The binding that a read at `position` sees in straight-line code."""
    earlier = [b for b in bindings if (b.end_lineno, b.end_col_offset) <= position]
    return max(earlier, key=lambda b: (b.lineno, b.col_offset), default=None)


def _first_between(bindings: list[ast.AST], start: tuple[int, int], end: tuple[int, int]) -> ast.AST | None:
    between = [b for b in bindings if start <= (b.lineno, b.col_offset) and (b.end_lineno, b.end_col_offset) <= end]
    return min(between, key=lambda b: (b.lineno, b.col_offset), default=None)


def _is_computation(expr: ast.AST) -> bool:
    return not isinstance(expr, (ast.Name, ast.Attribute, ast.Subscript, ast.List, ast.Tuple, ast.Constant))


def _first_line(code: str) -> str:
    line = code.splitlines()[0]
    return line if line == code and len(line) < 60 else line[:56] + " ..."


def _move_into_block(analysis, tape, statements: list[ast.stmt]) -> tuple[Edit | None, Span | None]:
    """One edit that moves the statements into the block when they sit directly before it (to its top) or
    directly after it (to its end), each on lines of its own; (None, None) otherwise."""
    siblings = _statement_list_of(tape.scope, tape.node)
    source = analysis.source
    first_statement = tape.body[0]
    if siblings is None or not all(_owns_its_lines(analysis, s) for s in [*statements, first_statement]):
        return None, None
    if any(isinstance(n, (ast.Constant, ast.JoinedStr)) and n.lineno != n.end_lineno
           for s in statements for n in ast.walk(s)):
        return None, None  # re-indenting would change a multi-line string
    index = next(i for i, s in enumerate(siblings) if s is tape.node)
    count = len(statements)
    outer = _indent(source.line(tape.node.lineno))
    inner = _indent(source.line(first_statement.lineno))
    start = source.line_starts[statements[0].lineno - 1]
    moved_end = _line_end_offset(source, statements[-1].end_lineno)
    if siblings[index - count:index] == statements:
        if any(set(bound_names(s)) & names_read(item.context_expr) for s in statements for item in tape.node.items):
            return None, None
        header_end = source.line_starts[first_statement.lineno - 1]
        moved = _reindent(source.text[start:moved_end], outer, inner)
        if moved is None:
            return None, None
        edit = Edit(start, header_end, source.text[moved_end:header_end] + moved)
        return edit, Span.between(statements[0], first_statement.lineno, first_statement.col_offset)
    if siblings[index + 1:index + 1 + count] == statements:
        moved = _reindent(source.text[start:moved_end], outer, inner)
        if moved is None:
            return None, None
        return Edit(start, moved_end, moved), Span.between(statements[0], statements[-1].end_lineno,
                                                           statements[-1].end_col_offset)
    return None, None


def _statement_list_of(scope: ast.AST, statement: ast.stmt) -> list[ast.stmt] | None:
    for node in ast.walk(scope):
        for field in _STATEMENT_LISTS:
            body = getattr(node, field, None)
            if isinstance(body, list) and any(s is statement for s in body):
                return body
        for handler in getattr(node, "handlers", []):
            if any(s is statement for s in handler.body):
                return handler.body
    return None


def _owns_its_lines(analysis, statement: ast.stmt) -> bool:
    """Nothing but indentation before the statement and nothing but a comment after it."""
    source = analysis.source
    before = source.text[source.line_starts[statement.lineno - 1]:source.offset(statement.lineno, statement.col_offset)]
    after = source.text[source.offset(statement.end_lineno, statement.end_col_offset):
                        _line_end_offset(source, statement.end_lineno)]
    return not before.strip() and (not after.strip() or after.strip().startswith("#"))


def _line_end_offset(source, lineno: int) -> int:
    """Offset just past the line's line break (the start of the next line)."""
    return source.line_starts[lineno] if lineno < len(source.line_starts) else len(source.text)


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _reindent(text: str, outer: str, inner: str) -> str | None:
    lines = [m.group() for m in _LINE.finditer(text) if m.group()]
    result = []
    for line in lines:
        if not line.strip():
            result.append(line)
        elif line.startswith(outer):
            result.append(inner + line[len(outer):])
        else:
            return None
    return "".join(result)
