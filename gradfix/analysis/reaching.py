"""Reaching definitions of one function (or module): which bindings of a name a read can see.

Straight-line code sees the latest binding before it; a binding inside an `if`, a loop or a `try` that does
not also contain the read may not have run, so the bindings before it are seen too; a read inside a loop
also sees the bindings later in the same loop (from the previous iteration). Comprehension variables are
seen by the reads of their comprehension. Good enough for the functional-API style `x = Dense(..)(x)`,
where a name holds a different value on every line.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cached_property

from gradfix.analysis.values import CONTAINER_MUTATORS
from gradfix.analysis.tensors import assigned_names

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_CONDITIONAL = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.Try, ast.Match) + (
    (ast.TryStar,) if hasattr(ast, "TryStar") else ())
_LOOPS = (ast.For, ast.AsyncFor, ast.While)


@dataclass(eq=False)
class Binding:
    """One place where `name` gets a value: `node` is the statement or expression that binds it, `value` the
    expression whose value it gets (None for a loop variable's element or an unpacked item: see `value`),
    `keeps_previous` when the old value survives (`x += y`, `xs.append(y)`)."""

    name: str
    node: ast.AST
    value: ast.AST | None
    position: tuple[int, int]  # where the binding takes effect
    conditions: tuple[int, ...]  # ids of the conditional statements around it
    loops: tuple[int, ...]
    keeps_previous: bool = False


class ReachingDefinitions:
    def __init__(self, scope: ast.AST):
        self.scope = scope
        self.by_name: dict[str, list[Binding]] = {}
        self._context: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = {}  # node id -> (conditions, loops)
        self._comprehension_of: dict[int, ast.AST] = {}
        body = scope.body if isinstance(scope, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef)) else []
        if isinstance(scope, ast.Lambda):
            self._expression(scope.body, (), ())
        self._statements(body, (), ())
        for bindings in self.by_name.values():
            bindings.sort(key=lambda b: b.position)

    @cached_property
    def parameters(self) -> list[str]:
        if not isinstance(self.scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return []
        args = self.scope.args
        return [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs
                + [a for a in (args.vararg, args.kwarg) if a]]

    # --- collecting ---------------------------------------------------------------------------------
    def _statements(self, statements: list[ast.stmt], conditions: tuple[int, ...], loops: tuple[int, ...]) -> None:
        for statement in statements:
            self._statement(statement, conditions, loops)

    def _statement(self, statement: ast.stmt, conditions, loops) -> None:
        self._context[id(statement)] = (conditions, loops)
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self._add(statement.name, statement, None, _end(statement), conditions, loops)
            return
        inner_conditions = conditions + (id(statement),) if isinstance(statement, _CONDITIONAL) else conditions
        inner_loops = loops + (id(statement),) if isinstance(statement, _LOOPS) else loops
        if isinstance(statement, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and statement.value is not None:
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            for target in targets:
                for name in assigned_names(target):
                    self._add(name, statement, statement.value, _end(statement), conditions, loops,
                              keeps_previous=isinstance(statement, ast.AugAssign))
        elif isinstance(statement, (ast.For, ast.AsyncFor)):
            for name in assigned_names(statement.target):
                self._add(name, statement, statement.iter, _end(statement.target), inner_conditions, inner_loops)
        elif isinstance(statement, (ast.With, ast.AsyncWith)):
            for item in statement.items:
                for name in assigned_names(item.optional_vars) if item.optional_vars else ():
                    self._add(name, item, item.context_expr, _end(item.optional_vars), conditions, loops)
        elif isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
            call = statement.value
            if isinstance(call.func, ast.Attribute) and call.func.attr in CONTAINER_MUTATORS \
                    and isinstance(call.func.value, ast.Name):
                self._add(call.func.value.id, statement, ast.Tuple(elts=list(call.args), ctx=ast.Load()),
                          _end(statement), conditions, loops, keeps_previous=True)
        for field in ("body", "orelse", "finalbody"):
            block = getattr(statement, field, None)
            if isinstance(block, list):
                self._statements(block, inner_conditions, inner_loops)
        for handler in getattr(statement, "handlers", []):
            self._context[id(handler)] = (inner_conditions, inner_loops)
            if handler.name:
                self._add(handler.name, handler, None, _end(handler), inner_conditions, inner_loops)
            self._statements(handler.body, inner_conditions, inner_loops)
        for case in getattr(statement, "cases", []):
            self._statements(case.body, inner_conditions, inner_loops)
        for child in ast.iter_child_nodes(statement):
            if isinstance(child, ast.expr):
                self._expression(child, conditions, loops)

    def _expression(self, expr: ast.expr, conditions, loops) -> None:
        stack = [expr]
        while stack:
            node = stack.pop()
            self._context[id(node)] = (conditions, loops)
            if isinstance(node, _SCOPES):
                continue
            if isinstance(node, ast.NamedExpr):
                self._add(node.target.id, node, node.value, _end(node), conditions, loops)
            if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
                for generator in node.generators:
                    for name in assigned_names(generator.target):
                        binding = Binding(name, generator, generator.iter, _end(generator.target), conditions, loops)
                        self._comprehension_of[id(binding)] = node
                        self.by_name.setdefault(name, []).append(binding)
            stack.extend(ast.iter_child_nodes(node))

    def _add(self, name, node, value, position, conditions, loops, keeps_previous=False) -> None:
        self.by_name.setdefault(name, []).append(Binding(name, node, value, position, conditions, loops,
                                                         keeps_previous))

    # --- asking ---------------------------------------------------------------------------------------
    def reaching(self, read: ast.Name) -> tuple[list[Binding], bool]:
        """(the bindings the read can see, whether it can also see the value the name had on entry — a
        parameter or a global)."""
        bindings = self.by_name.get(read.id, [])
        conditions, loops = self._context.get(id(read), ((), ()))
        inside = [b for b in bindings if id(b) in self._comprehension_of
                  and _contains(self._comprehension_of[id(b)], read)]
        if inside:
            return inside, False
        here = (read.lineno, read.col_offset)
        seen: list[Binding] = []
        before = [b for b in bindings if b.position <= here and id(b) not in self._comprehension_of]
        for binding in reversed(before):
            seen.append(binding)
            if not binding.keeps_previous and set(binding.conditions) <= set(conditions):
                break
        else:
            entry = True
            seen.extend(b for b in bindings if b.position > here and set(b.loops) & set(loops))
            return seen, entry
        seen.extend(b for b in bindings if b.position > here and set(b.loops) & set(loops))
        return seen, False


def _end(node: ast.AST) -> tuple[int, int]:
    return node.end_lineno, node.end_col_offset


def _contains(outer: ast.AST, inner: ast.AST) -> bool:
    return (outer.lineno, outer.col_offset) <= (inner.lineno, inner.col_offset) \
        and (inner.end_lineno, inner.end_col_offset) <= (outer.end_lineno, outer.end_col_offset)
