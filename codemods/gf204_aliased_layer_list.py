"""GF204: a list (or dict) stored on a Layer/Model and then filled through its local name."""

from __future__ import annotations

import ast
import re

from gradfix.codemods._variables import layer_classes, may_be_keras_2, self_attribute, walk_function
from gradfix.rules import FixSafety, Rule, Span

# Cheap text screen, run before any analysis: a name bound to a new container and stored on `self`.
# Searched in "\n" + text (a leading literal is found much faster than `^` under re.MULTILINE).
_CONTAINER_CREATION = re.compile(r"\n[ \t]*(\w+)[ \t]*=[ \t]*(?:\[|\{|list\(|dict\()")
_STORED_ON_SELF = re.compile(r"\n[ \t]*self\.\w+[ \t]*=[ \t]*(\w+)[ \t]*(?:#[^\r\n]*)?(?=[\r\n]|$)")
MUTATING_METHODS = frozenset({"append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse",
                              "update", "setdefault", "popitem"})
_STATEMENT_LISTS = ("body", "orelse", "finalbody")


class AliasedLayerList(Rule):
    code = "GF204"
    name = "aliased-layer-list"
    summary = "list stored on a Layer/Model, then filled through its local name (Keras 3 stored a copy)"
    fix_safety = FixSafety.SAFE
    severity = "error"
    triggers = ("= [", "=[", "= {", "={", "list(", "dict(")
    outside_keras_classes = ()
    explanation = """
## Why gradients stop
Keras 3 wraps a list (or dict) assigned to a layer attribute in its own tracked container, which is
a *copy*. After `blocks = []; self.blocks = blocks`, appending to `blocks` no longer changes
`self.blocks`: the appended layers are not tracked, so their weights are missing from
`model.trainable_variables` and are never trained or saved — and `self.blocks` is empty where the
model iterates over it.

## What the fix does
Every use of the local name after the assignment (appends, other mutations and reads) is rewritten
to use the attribute, so the layers go into the tracked container. It is left alone when the local
name is rebound afterwards, stored on a second attribute, or used in a nested function.

## Example
```python
# before
blocks = []
self.blocks = blocks
for _ in range(depth):
    blocks.append(tf.keras.layers.Dense(units))
# after
blocks = []
self.blocks = blocks
for _ in range(depth):
    self.blocks.append(tf.keras.layers.Dense(units))
```

## Keras 3 vs Keras 2
tf_keras wraps the same list object, so appends through the local name are seen; Keras 3 copies it.
Files that import `tf_keras` are left alone.
"""

    def check(self, analysis):
        if may_be_keras_2(analysis) or not _may_alias_a_container(analysis.source.text):
            return
        for keras_class in layer_classes(analysis):
            for method in keras_class.methods.values():
                for creation, alias in _aliases(method):
                    finding = self._alias_finding(analysis, keras_class, method, creation, alias)
                    if finding:
                        yield finding

    def _alias_finding(self, analysis, keras_class, method, creation, alias):
        local = creation.targets[0].id
        attribute = analysis.segment(alias.targets[0])
        after = (alias.end_lineno, alias.end_col_offset)
        parents = {child: parent for parent in ast.walk(method) for child in ast.iter_child_nodes(parent)}
        uses = sorted((n for n in walk_function(method) if isinstance(n, ast.Name) and n.id == local
                       and (n.lineno, n.col_offset) >= after), key=lambda n: (n.lineno, n.col_offset))
        mutations = [n for n in uses if _is_mutation(n, parents)]
        if not mutations:
            return None
        lines = ", ".join(sorted({str(n.lineno) for n in mutations}, key=int))
        message = (f"`{attribute} = {local}` stores a copy of `{local}` under Keras 3: what is added to `{local}` "
                   f"afterwards (line {lines}) never reaches `{attribute}`, so those layers are not tracked, trained "
                   f"or saved; use `{attribute}` instead of `{local}`")
        reason = _unfixable(analysis, method, local, alias, uses, parents, after)
        node = Span.covering(alias, uses[-1])
        if reason:
            return self.finding(node, f"{message}; not rewritten: {reason}")
        return self.finding(node, message, self.fix(*(analysis.replace(n, attribute) for n in uses)))


def _may_alias_a_container(text: str) -> bool:
    text = "\n" + text
    stored = set(_STORED_ON_SELF.findall(text))
    return bool(stored) and not stored.isdisjoint(_CONTAINER_CREATION.findall(text))


def _aliases(method):
    """(`local = []`, `self.attr = local`) pairs that are statements of the same block, in that order."""
    scopes = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    nodes = [method, *(n for n in walk_function(method) if not isinstance(n, scopes))]
    if not any(isinstance(n, ast.Assign) and isinstance(n.value, ast.Name) for n in nodes):
        return  # no `x = name` at all: the common case, decided in one walk
    blocks = [getattr(node, field) for node in nodes for field in _STATEMENT_LISTS
              if isinstance(getattr(node, field, None), list)]
    blocks += [handler.body for node in nodes if isinstance(node, ast.Try) for handler in node.handlers]
    for block in blocks:
        for index, statement in enumerate(block):
            if not _is_container_creation(statement):
                continue
            local = statement.targets[0].id
            for later in block[index + 1:]:
                if isinstance(later, ast.Assign) and len(later.targets) == 1 \
                        and self_attribute(later.targets[0]) is not None \
                        and isinstance(later.value, ast.Name) and later.value.id == local:
                    yield statement, later
                    break


def _is_container_creation(statement) -> bool:
    if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)):
        return False
    value = statement.value
    if isinstance(value, (ast.List, ast.Dict, ast.ListComp, ast.DictComp)):
        return True
    return isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in ("list", "dict")


def _is_mutation(name: ast.Name, parents) -> bool:
    parent = parents.get(name)
    if isinstance(parent, ast.Attribute) and parent.attr in MUTATING_METHODS:
        call = parents.get(parent)
        return isinstance(call, ast.Call) and call.func is parent
    if isinstance(parent, ast.Subscript) and parent.value is name:
        return isinstance(parent.ctx, (ast.Store, ast.Del))
    return isinstance(parent, ast.AugAssign) and parent.target is name


def _unfixable(analysis, method, local, alias, uses, parents, after) -> str:
    for name in uses:
        if isinstance(name.ctx, (ast.Store, ast.Del)) and not isinstance(parents.get(name), ast.AugAssign):
            return f"`{local}` is bound again on line {name.lineno}"
        parent = parents.get(name)
        if isinstance(parent, ast.Assign) and parent.value is name \
                and any(self_attribute(t) is not None for t in parent.targets):
            return f"`{local}` is stored on a second attribute on line {name.lineno}"
    nested = [n for n in ast.walk(method) if isinstance(n, ast.Name) and n.id == local
              and (n.lineno, n.col_offset) >= after and n not in set(uses)]
    if nested:
        return f"`{local}` is used in a nested function on line {nested[0].lineno}"
    attribute = alias.targets[0].attr
    for node in walk_function(method):
        if isinstance(node, ast.Assign) and node is not alias and (node.lineno, node.col_offset) >= after \
                and any(self_attribute(t) == attribute for t in node.targets):
            return f"`self.{attribute}` is assigned again on line {node.lineno}"
    return ""

