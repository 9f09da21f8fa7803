"""GF403: the forward pass or the loss computed outside the `GradientTape` block the gradient is taken from."""

from __future__ import annotations

import ast

from gradfix.analysis.flow import argument_for
from gradfix.analysis.tapes import LossCallable, bound_names, container_mutated, dotted, names_read, own_nodes
from gradfix.edits import indentation, line_end, owns_its_lines, reindent
from gradfix.rules import FixSafety, Rule, Span
from gradfix.source import Edit

_STATEMENT_LISTS = ("body", "orelse", "finalbody")


class ComputedOutsideTape(Rule):
    code = "GF403"
    name = "computed-outside-gradient-tape"
    summary = "prediction or loss computed before/after the `GradientTape` block that the gradient is taken from"
    fix_safety = FixSafety.UNSAFE
    severity = "error"
    triggers = ("GradientTape", "minimize")
    explanation = """
## Why gradients stop
A tape records only what runs inside its `with` block. A forward pass computed before the block
(`preds = model(x)` and then `with tf.GradientTape() as tape: loss = loss_fn(y, preds)`) or a loss computed
after it leaves the tape without any operation connecting the variables to the target:
`tape.gradient(loss, model.trainable_variables)` is a list of `None`.

The same happens across function boundaries: logits computed by the caller and handed to a train step
whose tape computes only the loss; predictions collected in a list while an episode is played, before the
tape opens; `optimizer.minimize(lambda: cost, var_list)` with `cost` computed before (the optimizer records
only the call of the lambda).

## What the fix does
Reports every statement that computes, outside the block, a value on the way from the differentiated
model to the gradient's target — the forward pass itself (a call of the model, or of a method of it that
runs its layers), never data fetched or unpacked through a method (`x, y = self.unpack(data)`), sampled
actions, or a frozen part run with `training=False`. With `--unsafe-fixes`, when those statements sit
directly before (or directly after) the block, they are moved into it, at its top (or its end). Statements
elsewhere, a frozen feature extractor or a teacher model whose variables are not differentiated, are not touched.
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
        tapes = [*analysis.tapes, *(analysis.loss_callables if "minimize" in analysis.source.text else ())]
        inside_some_tape = {id(n) for tape in tapes for statement in tape.body for n in ast.walk(statement)}
        for tape in tapes:
            if not tape.requests or not tape.owners:
                continue
            start = (tape.node.lineno, tape.node.col_offset)
            before = _outside_computations(tape, tape.free_path_names, inside_some_tape,
                                           lambda bindings: _last_before(bindings, start))
            if isinstance(tape, LossCallable):
                if before:
                    minimize = dotted(tape.requests[0].call.func) or "minimize"
                    yield self._finding(analysis, tape, before, f"outside the loss function given to `{minimize}`, "
                                        "the only code its tape records", "inside the loss function")
                continue
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
            if not before and not after:
                yield from self._forward_pass_in_callers(analysis, tape)

    def _finding(self, analysis, tape, statements: list[ast.stmt], where: str, inside: str = "inside the block"):
        listed = ", ".join(f"`{_quoted(analysis, s)}` (line {s.lineno})" for s in statements)
        target = analysis.segment(tape.requests[0].target)
        it = "it" if len(statements) == 1 else "them"
        remedy = f"compute {it} {inside}"
        if any(isinstance(s, ast.Expr) for s in statements):  # predictions collected in a list
            remedy = f"collect the model's inputs instead, and run the model on them {inside}"
        message = (f"{listed} {'runs' if len(statements) == 1 else 'run'} {where}: the tape never records {it}, "
                   f"so the gradient of `{target}` is None; {remedy}")
        edit, region = _move_into_block(analysis, tape, statements)
        if edit is None:
            return self.finding(statements[0], message)
        return self.finding(region, message, self.fix(edit))

    def _forward_pass_in_callers(self, analysis, tape):
        """The tape's function receives the model's output as a parameter (`apply_step(logits, labels)`) and
        records only the loss: point at the forward pass where a caller in this file computes it."""
        if not isinstance(tape.scope, (ast.FunctionDef, ast.AsyncFunctionDef)) or any(
                tape.depends_on_sources(r.target) for r in tape.requests):
            return
        parameters = tape.free_path_names & {a.arg for a in tape.scope.args.args + tape.scope.args.kwonlyargs}
        if not parameters:
            return
        target = analysis.segment(tape.requests[0].target)
        for call, scope in _calls(analysis.tree):
            if not _runs_function(call, tape):
                continue
            for parameter in sorted(parameters):
                argument = argument_for(tape.scope, call, parameter)
                forward = _forward_pass_of(tape, argument, scope, call) if argument is not None else None
                if forward is not None:
                    yield self.finding(forward, f"`{_quoted(analysis, forward)}` (line {forward.lineno}) runs the "
                                       f"model outside the GradientTape of `{tape.scope.name}` (line "
                                       f"{tape.node.lineno}), which receives only its result as `{parameter}` and "
                                       f"records just the loss: the gradient of `{target}` is None; pass the "
                                       f"model's inputs and call the model inside the block")


def _calls(tree: ast.Module):
    for scope in [tree, *(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))]:
        for node in own_nodes(scope):
            if isinstance(node, ast.Call):
                yield node, scope


def _runs_function(call: ast.Call, tape) -> bool:
    """Does the call run the tape's function: `step(...)` for a module function, `self.step(...)` for a method?"""
    name = tape.scope.name
    if tape.owner_class is not None:
        return isinstance(call.func, ast.Attribute) and call.func.attr == name and dotted(call.func.value) == "self"
    return isinstance(call.func, ast.Name) and call.func.id == name


def _forward_pass_of(tape, argument: ast.AST, scope: ast.AST, call: ast.Call) -> ast.AST | None:
    """The statement (or argument) of the caller that runs the differentiated model to make `argument`."""
    if isinstance(argument, ast.Call) and _calls_model(tape, argument):
        return argument
    if not isinstance(argument, ast.Name):
        return None
    earlier = [s for s in own_nodes(scope) if isinstance(s, ast.Assign) and argument.id in bound_names(s)
               and (s.end_lineno, s.end_col_offset) <= (call.lineno, call.col_offset)]
    binding = max(earlier, key=lambda s: (s.lineno, s.col_offset), default=None)
    return binding if binding is not None and _calls_model(tape, binding.value) else None


def _calls_model(tape, value: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and tape.is_owned(dotted(n.func)) and tape.runs_model(n.func)
               for n in ast.walk(value))


def _quoted(analysis, node: ast.AST) -> str:
    """The statement as written when it is one short line; else its start up to the value's call (`x = f(...)`)
    — never a line cut mid-expression."""
    code = analysis.segment(node)
    if "\n" not in code and len(code) <= 80:
        return code
    value = getattr(node, "value", None)
    if isinstance(node, ast.Assign) and isinstance(value, ast.Call):
        return f"{analysis.segment(node.targets[0])} = {analysis.segment(value.func)}(...)"
    return code.splitlines()[0].rstrip() + " ..."


def _outside_computations(tape, names: set[str], inside_some_tape: set[int], reaching) -> list[ast.stmt]:
    """Statements outside every tape that compute from the sources a value the target needs: for each name,
    the binding `reaching` picks among the name's bindings, then the same for the names it reads. A list
    filled before the block (`log_probs.append(...)` in an episode loop) counts with what is put into it."""
    found: dict[int, ast.stmt] = {}
    pending = set(names)
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        seen.add(name)
        for statement, value in _fillings_before(tape, name, inside_some_tape):
            if tape.depends_on_sources(value) and names_read(value) - tape.source_values:
                found[id(statement)] = statement
                pending |= names_read(value) - seen
        binding = reaching(tape.bindings.get(name, []))
        if not isinstance(binding, (ast.Assign, ast.AnnAssign)) or id(binding) in inside_some_tape \
                or set(bound_names(binding)) & (tape.source_values | tape.watched_names) \
                or _inference_call(binding.value) or not tape.computes_from_sources(binding.value):
            continue  # making the sources outside the tape, or running a frozen part, is how it should be
        found[id(binding)] = binding
        pending |= names_read(binding.value) - seen
    return sorted(found.values(), key=lambda s: s.lineno)


def _fillings_before(tape, name: str, inside_some_tape: set[int]):
    """(statement, value put in) for every `name.append(value)` (and the like) before the block, outside tapes."""
    start = (tape.node.lineno, tape.node.col_offset)
    for statement in own_nodes(tape.scope):
        if isinstance(statement, ast.Expr) and (statement.lineno, statement.col_offset) < start \
                and id(statement) not in inside_some_tape:
            container = container_mutated(statement.value)
            if container is not None and container.id == name:
                yield from ((statement, arg) for arg in statement.value.args)


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


def _move_into_block(analysis, tape, statements: list[ast.stmt]) -> tuple[Edit | None, Span | None]:
    """One edit that moves the statements into the block when they sit directly before it (to its top) or
    directly after it (to its end), each on lines of its own; (None, None) otherwise."""
    siblings = _statement_list_of(tape.scope, tape.node)
    source = analysis.source
    first_statement = tape.body[0]
    if siblings is None or not all(owns_its_lines(source, s) for s in [*statements, first_statement]):
        return None, None
    if any(isinstance(n, (ast.Constant, ast.JoinedStr)) and n.lineno != n.end_lineno
           for s in statements for n in ast.walk(s)):
        return None, None  # re-indenting would change a multi-line string
    index = next(i for i, s in enumerate(siblings) if s is tape.node)
    count = len(statements)
    outer = indentation(source, tape.node.lineno)
    inner = indentation(source, first_statement.lineno)
    start = source.line_starts[statements[0].lineno - 1]
    moved_end = line_end(source, statements[-1].end_lineno)
    if siblings[index - count:index] == statements:
        if any(set(bound_names(s)) & names_read(item.context_expr) for s in statements for item in tape.node.items):
            return None, None
        header_end = source.line_starts[first_statement.lineno - 1]
        moved = reindent(source.text[start:moved_end], outer, inner)
        if moved is None:
            return None, None
        edit = Edit(start, header_end, source.text[moved_end:header_end] + moved)
        return edit, Span.between(statements[0], first_statement.lineno, first_statement.col_offset)
    if siblings[index + 1:index + 1 + count] == statements:
        moved = reindent(source.text[start:moved_end], outer, inner)
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
