"""GF203: a plain Python class or `tf.Module` that holds `tf.Variable`s, stored on a Keras Layer/Model."""

from __future__ import annotations

import ast
import re

from gradfix.codemods._variables import (add_weight_rewrite, is_docstring, is_variable_call, keras_namespace,
                                         layer_classes, may_be_keras_2, stores_on_self, super_init_line, walk_function)
from gradfix.analysis import KerasClass, KerasKind
from gradfix.analysis.statements import module_statements
from gradfix.analysis.tensors import is_super_call
from gradfix.edits import starts_its_line, text_before
from gradfix.rules import FixSafety, Rule
from gradfix.source import Edit

# What a Keras Layer already defines: a holder that assigns or defines one of these cannot become a Layer.
LAYER_MEMBERS = frozenset({
    "name", "dtype", "trainable", "weights", "variables", "trainable_weights", "trainable_variables",
    "non_trainable_weights", "non_trainable_variables", "built", "input", "output", "losses", "metrics",
    "input_spec", "dtype_policy", "compute_dtype", "variable_dtype", "supports_masking", "stateless", "path",
    "build", "get_config", "from_config", "add_weight", "add_variable", "get_weights", "set_weights",
    "count_params", "compute_output_shape", "compute_output_spec", "add_loss", "submodules", "name_scope",
    "quantize", "autocast", "call", "symbolic_call", "build_from_config", "get_build_config",
})
# tf.Module API a Layer does not offer the same way.
MODULE_API = frozenset({"name_scope", "with_name_scope", "_flatten", "submodules"})


class VariableHolder(Rule):
    code = "GF203"
    name = "untracked-variable-holder"
    summary = "plain class or `tf.Module` holding `tf.Variable`s, stored on a Layer/Model (its variables are not trained)"
    fix_safety = FixSafety.UNSAFE
    severity = "error"
    triggers = ("Variable",)
    outside_keras_classes = ()  # holders used by a Keras class
    explanation = """
## Why gradients stop
Keras finds a model's weights by walking its attributes, but it only looks inside Keras Layers, Models
and weights made with `add_weight`. A helper object that keeps `tf.Variable`s — a plain Python class,
or a `tf.Module` under Keras 3 — is opaque: its variables are missing from `model.trainable_variables`,
so `fit` and every `tape.gradient(loss, model.trainable_variables)` loop leave them at their initial
values, and `model.save(...)` drops them. Nothing raises.

## What the fix does
With `--unsafe-fixes`, turns the helper into a Keras Layer: its base becomes `keras.layers.Layer`,
`__init__` calls `super().__init__()` first, each `self.x = tf.Variable(...)` becomes
`self.x = self.add_weight(...)` (same translation as GF201), and `__call__` is renamed `call`. The fix
is unsafe because the class changes type: code elsewhere that relies on it being a plain object or a
`tf.Module` (pickling, `tf.Module.with_name_scope`, attributes named like Layer properties) may
behave differently; such classes are reported without a fix.

## Example
```python
# before
class Scale(tf.Module):
    def __init__(self, size):
        super().__init__()
        self.gain = tf.Variable(tf.ones((size,)))

    def __call__(self, x):
        return x * self.gain
# after (--unsafe-fixes)
class Scale(tf.keras.layers.Layer):
    def __init__(self, size):
        super().__init__()
        self.gain = self.add_weight(shape=(size,), initializer="ones")

    def call(self, x):
        return x * self.gain
```

## Keras 3 vs Keras 2
tf_keras tracks `tf.Module` attributes (and bare `tf.Variable`s), so a `tf.Module` holder trains there
and silently stops training under Keras 3; a plain Python class is invisible to both.
"""

    def check(self, analysis):
        users = _holder_users(analysis)
        for node in module_statements(analysis.tree):
            if not isinstance(node, ast.ClassDef) or node.name not in users:
                continue
            kind = _holder_kind(analysis, node)
            if kind is None or (kind == "tf.Module" and may_be_keras_2(analysis)):
                continue
            holder = KerasClass(node, KerasKind.MODULE, analysis.imports, analysis.index)
            variables = _variable_statements(analysis, holder)
            if not variables:
                continue
            keras_class, attribute = users[node.name]
            names = ", ".join(f"`{analysis.segment(s.targets[0])}`" if isinstance(s, ast.Assign) else "`...`"
                              for s in variables)
            opaque = "a plain Python object" if kind == "object" else "a tf.Module (under Keras 3)"
            message = (f"`{node.name}` keeps tf.Variables ({names}) and is stored on `{keras_class.name}.{attribute}`: "
                       f"Keras does not look inside {opaque}, so they are not in `trainable_variables`, never "
                       f"trained or saved; make `{node.name}` a Keras Layer")
            keras = keras_namespace(analysis, keras_class.node)
            edits, reason = _to_layer(analysis, holder, variables, keras)
            if edits is None:
                yield self.finding(node, f"{message}; not rewritten: {reason}")
                continue
            needs_import = not analysis.tensorflow_imported and (
                keras.startswith(analysis.tf_name + ".") or any("convert_to_tensor" in e.text for e in edits))
            yield self.finding(node, message + " (unsafe fix: --unsafe-fixes)",
                               self.fix(*edits, needs_tensorflow_import=needs_import))


def _holder_users(analysis) -> dict[str, tuple[KerasClass, str]]:
    """Class name → (a Keras Layer/Model of this file, its attribute) for classes instantiated into an attribute."""
    users = {}
    for keras_class in layer_classes(analysis):
        for attribute, values in keras_class.attribute_values.items():
            for value in values:
                for node in ast.walk(value):
                    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                        users.setdefault(node.func.id, (keras_class, attribute))
    return users


def _holder_kind(analysis, node: ast.ClassDef) -> str | None:
    if not node.bases or [ast.unparse(b) for b in node.bases] == ["object"]:
        return "object"
    if len(node.bases) == 1 and analysis.qualname(node.bases[0]) == "tensorflow.Module":
        return "tf.Module"
    return None


def _variable_statements(analysis, holder: KerasClass) -> list[ast.stmt]:
    """Statements of the holder's methods that store a tf.Variable on `self`."""
    found = []
    for method in holder.methods.values():
        for statement in walk_function(method):
            if isinstance(statement, (ast.Assign, ast.AnnAssign, ast.Expr)) and statement.value is not None \
                    and any(is_variable_call(analysis, n) for n in ast.walk(statement.value)) \
                    and stores_on_self(statement):
                found.append(statement)
    return found


def _to_layer(analysis, holder: KerasClass, variables: list[ast.stmt], keras: str):
    """The edits that make the holder a Keras Layer, or (None, why not)."""
    node = holder.node
    if node.decorator_list or node.keywords:
        return None, "the class is decorated or has a metaclass"
    clash = sorted((set(holder.attribute_values) | set(holder.methods)) & LAYER_MEMBERS)
    if clash:
        return None, f"`{clash[0]}` would collide with the Layer attribute of that name"
    if any(isinstance(n, ast.Attribute) and n.attr in MODULE_API for n in ast.walk(node)):
        return None, "it uses the tf.Module API (name scopes, submodules)"
    init = holder.methods.get("__init__")
    edits = [_base_edit(analysis, node, f"{keras}.layers.Layer")]
    for statement in variables:
        method = next(m for m in holder.methods.values() if any(s is statement for s in ast.walk(m)))
        if not isinstance(statement, ast.Assign) or method is not init:
            return None, "a tf.Variable is created outside `__init__` or not as `self.x = tf.Variable(...)`"
        if not starts_its_line(analysis.source, statement):
            return None, "a tf.Variable assignment shares its line with other code"
        rewrite = add_weight_rewrite(analysis, statement, init, holder, keras)
        if rewrite.text is None:
            return None, f"`{analysis.segment(statement.targets[0])}`: {rewrite.reason}"
        edits.append(analysis.replace(statement, rewrite.text))
    if init is not None:
        super_edit, reason = _super_init_edit(analysis, init, variables)
        if reason:
            return None, reason
        edits += [super_edit] if super_edit else []
    if "__call__" in holder.methods:
        edits.append(_rename_edit(analysis, holder.methods["__call__"], "call"))
    return edits, ""


def _base_edit(analysis, node: ast.ClassDef, base: str) -> Edit:
    """`class H:` / `class H():` / `class H(object):` / `class H(tf.Module):` → `class H(<base>):`."""
    if node.bases:
        return analysis.replace(node.bases[0], base)
    start = analysis.source.offset(node.lineno, node.col_offset)
    header = re.compile(rf"class\s+{node.name}\s*(\(\s*\))?").match(analysis.source.text, start)
    if header.group(1):
        return Edit(header.start(1), header.end(1), f"({base})")
    return Edit(header.end(), header.end(), f"({base})")


def _super_init_edit(analysis, init: ast.FunctionDef, variables: list[ast.stmt]) -> tuple[Edit | None, str]:
    """`super().__init__()` at the top of `__init__` when it is missing (add_weight needs it)."""
    line = super_init_line(init)
    if line is not None:
        call = next(n for n in walk_function(init) if isinstance(n, ast.Call) and n.lineno == line
                    and isinstance(n.func, ast.Attribute) and n.func.attr == "__init__")
        if not is_super_call(call.func.value) or call.args or any(k.arg != "name" for k in call.keywords):
            return None, "its `super().__init__(...)` call passes arguments a Layer does not take"
        if any(s.lineno < line for s in variables):
            return None, "it creates variables before calling `super().__init__()`"
        return None, ""
    body = init.body[1:] if is_docstring(init.body[0]) else init.body
    if not body or not starts_its_line(analysis.source, body[0]):
        return None, "there is no statement to put `super().__init__()` before"
    first = body[0]
    offset = analysis.source.offset(first.lineno, first.col_offset)
    return Edit(offset, offset, f"super().__init__(){analysis.source.newline}{text_before(analysis.source, first)}"), ""


def _rename_edit(analysis, method: ast.FunctionDef, new_name: str) -> Edit:
    start = analysis.source.offset(method.lineno, method.col_offset)
    match = re.compile(rf"(?:async\s+)?def\s+({method.name})\b").match(analysis.source.text, start)
    return Edit(match.start(1), match.end(1), new_name)
