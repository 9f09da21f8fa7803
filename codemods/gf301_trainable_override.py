"""GF301: a Layer/Model overrides `trainable_variables`, `trainable_weights`, `variables` or `weights`."""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field

from codemods._variables import (TF_VARIABLE, VARIABLE_CLASSES, WeightRewrite, keras_namespace, layer_classes,
                                 layer_weight_rewrite, may_be_keras_2, self_attribute, span_node,
                                 state_creating_methods)
from gradfix.analysis import KerasClass
from gradfix.analysis.tensors import is_self, is_super_call
from gradfix.rules import FixSafety, Rule
from gradfix.source import Edit

# Which variables a collection holds.
COLLECTIONS = {"trainable_variables": "trainable", "trainable_weights": "trainable",
               "variables": "all", "weights": "all",
               "non_trainable_variables": "non-trainable", "non_trainable_weights": "non-trainable"}
OVERRIDABLE = ("trainable_variables", "trainable_weights", "variables", "weights")
_OVERRIDES_WHAT = {
    "trainable": "what Keras trains, so `fit` and training loops can disagree (Keras 3 `fit` ignores a "
                 "`trainable_variables` override but obeys `trainable_weights`; tf_keras obeys both)",
    "all": "the variables Keras reports, so saving, `fit` and loops over `model.variables` can disagree about them",
}
# Calls whose results Keras never tracks: what `self.x = <call>` stores cannot be a hidden sub-layer.
_UNTRACKABLE_PREFIXES = ("numpy.", "keras.activations.", "keras.initializers.", "keras.regularizers.",
                         "keras.constraints.", "keras.backend.", "keras.ops.", "math.")


@dataclass
class _Returned:
    """What an override returns, in terms gradfix can compare with what Keras tracks."""

    default: bool = False  # includes super().<collection>
    sublayers: set[str] = field(default_factory=set)  # self.<x>.<collection>
    weights: set[str] = field(default_factory=set)  # self.<x>
    problem: str = ""


class TrainableOverride(Rule):
    code = "GF301"
    name = "trainable-collection-override"
    summary = "override of `trainable_variables`/`trainable_weights`/`variables`/`weights` on a Layer/Model"
    fix_safety = FixSafety.SAFE
    severity = "warning"
    triggers = ("trainable_variables", "trainable_weights", "def variables", "def weights")
    explanation = """
## Why gradients stop
Keras decides what to train from the weights it tracks. Overriding the collections that report them
makes different parts of Keras disagree: Keras 3's `fit` ignores an override of `trainable_variables`
and trains every tracked weight, while a `tape.gradient(loss, model.trainable_variables)` loop obeys
it; an override of `trainable_weights` restricts `fit` too; tf_keras obeys both. Anything the override
adds that Keras does not track (a bare `tf.Variable`) is trained by some loops and by `fit` never, and
`save` drops it. An override written as a plain method (no `@property`) even breaks
`zip(grads, model.trainable_variables)`.

## What the fix does
Deletes the override when it returns what Keras tracks anyway (the sub-layers' collections and the
layer's own weights, or `super().trainable_variables` plus weights already in it). When it adds a bare
`tf.Variable` attribute, the fix tracks that variable with `self.add_weight(...)` (as GF201 does) and
deletes the override. When it leaves something out — a sub-layer you may mean to freeze — or returns
something gradfix cannot follow, it is reported and left alone: to freeze a sub-layer, set
`layer.trainable = False` instead.

## Example
```python
# before
class MyModel(tf.keras.Model):
    def __init__(self, units):
        super().__init__()
        self.dense1 = tf.keras.layers.Dense(units)
        self.dense2 = tf.keras.layers.Dense(units)

    @property
    def trainable_variables(self):
        return self.dense1.trainable_variables + self.dense2.trainable_variables
# after
class MyModel(tf.keras.Model):
    def __init__(self, units):
        super().__init__()
        self.dense1 = tf.keras.layers.Dense(units)
        self.dense2 = tf.keras.layers.Dense(units)
```

## Keras 3 vs Keras 2
Keras 3: `fit` ignores a `trainable_variables` override but obeys a `trainable_weights` one; custom
loops obey whichever they read. tf_keras: both overrides restrict `fit` and custom loops alike.
"""

    def check(self, analysis):
        for keras_class in layer_classes(analysis):
            for name in OVERRIDABLE:
                definitions = [s for s in keras_class.node.body
                               if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) and s.name == name]
                if definitions:
                    yield from self._override_findings(analysis, keras_class, name, definitions)

    def _override_findings(self, analysis, keras_class, name, definitions):
        getter = definitions[0]
        message = f"{keras_class.name}.{name} overrides {_OVERRIDES_WHAT[COLLECTIONS[name]]}"
        returned = _returned(keras_class, name, definitions)
        extras = _untracked_extras(analysis, keras_class, returned)
        problem = returned.problem or _problem(analysis, keras_class, name, returned, extras)
        if problem:
            yield self.finding(getter, f"{message}; not rewritten: {problem}")
            return
        deletion, first_line = _deletion(analysis, keras_class, getter)
        edits = [deletion]
        edits += [analysis.replace(statement, rewrite.text) for statement, rewrite in extras]
        fix = self.fix(*edits, needs_tensorflow_import=any(r.needs_tensorflow_import for _, r in extras))
        # The comment lines right above the override go with it, so the finding covers them.
        node = span_node(getter, getter, first_line) if first_line < _first_line(getter) else getter
        if not extras:
            yield self.finding(node, f"{message}; it returns what Keras tracks anyway: delete it", fix)
            return
        added = ", ".join(f"`{analysis.segment(s.targets[0])}`" for s, _ in extras)
        yield self.finding(node, f"{message}; it adds {added}, a bare tf.Variable Keras 3 does not track: "
                                   "create it with `self.add_weight(...)` and delete the override", fix)
        for statement, _ in extras:
            # The variable's line changes too; a finding there keeps the fix whole under --select GF301.
            yield self.finding(statement, f"`{analysis.segment(statement.targets[0])}` reaches Keras only through the "
                                          f"{keras_class.name}.{name} override: create it with `self.add_weight(...)`",
                               fix)


def _returned(keras_class: KerasClass, name: str, definitions) -> _Returned:
    returned = _Returned()
    getter = definitions[0]
    if all(s is getter or _is_docstring(s) for s in keras_class.node.body):
        returned.problem = "it is the only member of the class"
        return returned
    if len(definitions) > 1 or any(_is_accessor_decorator(d) for d in getter.decorator_list):
        returned.problem = "it has a setter or is defined more than once"
        return returned
    if any(not (isinstance(d, ast.Name) and d.id == "property") for d in getter.decorator_list):
        returned.problem = "it has decorators other than @property"
        return returned
    body = getter.body[1:] if _is_docstring(getter.body[0]) else getter.body
    if len(body) != 1 or not isinstance(body[0], ast.Return) or body[0].value is None:
        returned.problem = "it does more than return a list"
        return returned
    _collect(body[0].value, COLLECTIONS[name], returned)
    return returned


def _collect(expr: ast.AST, family: str, returned: _Returned) -> None:
    if returned.problem:
        return
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        _collect(expr.left, family, returned)
        _collect(expr.right, family, returned)
    elif isinstance(expr, (ast.List, ast.Tuple)):
        for element in expr.elts:
            if isinstance(element, ast.Starred):
                _collect(element.value, family, returned)
            elif self_attribute(element) is not None:
                returned.weights.add(element.attr)
            else:
                returned.problem = f"it returns `{ast.unparse(element)}`, which gradfix cannot follow"
    elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "list" \
            and len(expr.args) == 1 and not expr.keywords:
        _collect(expr.args[0], family, returned)
    elif isinstance(expr, ast.Attribute) and expr.attr in COLLECTIONS:
        if COLLECTIONS[expr.attr] != family:
            returned.problem = f"it returns `.{expr.attr}`, a different set of variables than its name says"
        elif is_super_call(expr.value):
            returned.default = True
        elif self_attribute(expr.value) is not None:
            returned.sublayers.add(expr.value.attr)
        else:
            returned.problem = f"it returns `{ast.unparse(expr)}`, which gradfix cannot follow"
    else:
        returned.problem = f"it returns `{ast.unparse(expr)}`, which gradfix cannot follow"


def _untracked_extras(analysis, keras_class: KerasClass, returned: _Returned) -> list[tuple[ast.Assign, WeightRewrite]]:
    """The `self.x = tf.Variable(...)` statements of weights the override adds by hand, with their rewrites."""
    if may_be_keras_2(analysis):
        return []
    found = []
    creators = state_creating_methods(keras_class)
    keras = keras_namespace(analysis, keras_class.node)
    for attribute in sorted(returned.weights):
        value = keras_class.weight_attrs.get(attribute)
        if value is None or analysis.qualname(value.func) != TF_VARIABLE:
            continue
        for method_name, method in keras_class.methods.items():
            for statement in ast.walk(method):
                if isinstance(statement, ast.Assign) and statement.value is value:
                    found.append((statement, layer_weight_rewrite(analysis, keras_class, statement, method_name,
                                                                  creators, keras)))
    return found


def _problem(analysis, keras_class: KerasClass, name: str, returned: _Returned, extras) -> str:
    """Why deleting the override could change what is trained ('' when it cannot)."""
    family = COLLECTIONS[name]
    for statement, rewrite in extras:
        if rewrite.text is None:
            return f"it adds `{analysis.segment(statement.targets[0])}`, which Keras 3 does not track " \
                   f"(not rewritten: {rewrite.reason})"
    extra_names = {s.targets[0].attr for s, _ in extras}
    for attribute in sorted(returned.weights - extra_names):
        value = keras_class.weight_attrs.get(attribute)
        if value is None:
            return f"it returns `self.{attribute}`, which is not a weight Keras tracks"
        if family == "trainable" and _keyword_is_false(value, "trainable"):
            return f"it adds the non-trainable weight `self.{attribute}` to the trainable ones"
    for attribute in sorted(returned.sublayers):
        if attribute not in keras_class.layer_attrs:
            return f"gradfix cannot tell whether Keras tracks `self.{attribute}`"
    if returned.default:
        return ""
    if not all(_is_plain_keras_base(analysis, base) for base in keras_class.node.bases):
        return "its base class may hold weights the override leaves out"
    required = _trackable_attributes(analysis, keras_class)
    if family == "trainable":
        required -= {a for a, value in keras_class.weight_attrs.items() if _keyword_is_false(value, "trainable")}
    missing = sorted(required - returned.sublayers - returned.weights)
    if missing:
        return (f"it leaves out `self.{missing[0]}`, which training loops then skip while Keras 3 `fit` trains it; "
                f"to freeze it, set `self.{missing[0]}.trainable = False` instead")
    return ""


def _trackable_attributes(analysis, keras_class: KerasClass) -> set[str]:
    """Attributes that hold (or may hold) something Keras tracks: sub-layers, weights, and anything made by
    an unknown call or used like a layer (called, iterated)."""
    attributes = set(keras_class.layer_attrs) | set(keras_class.weight_attrs)
    for method in keras_class.methods.values():
        for node in ast.walk(method):
            if isinstance(node, ast.Call) and self_attribute(node.func) in keras_class.attribute_values:
                attributes.add(node.func.attr)
            if isinstance(node, (ast.For, ast.comprehension)) and self_attribute(node.iter):
                attributes.add(node.iter.attr)
    for attribute, values in keras_class.attribute_values.items():
        if any(_may_make_trackable(analysis, node) for value in values for node in ast.walk(value)):
            attributes.add(attribute)
    return attributes


def _may_make_trackable(analysis, node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    qualname = analysis.qualname(node.func)
    if qualname is None:
        if isinstance(node.func, ast.Name) and hasattr(builtins, node.func.id):
            return False
        return not (isinstance(node.func, ast.Attribute) and (is_self(node.func.value) or
                                                              isinstance(node.func.value, ast.Constant)))
    if qualname in VARIABLE_CLASSES or qualname.startswith(_UNTRACKABLE_PREFIXES):
        return False
    if qualname.startswith("tensorflow."):
        return qualname.rsplit(".", 1)[-1][:1].isupper()  # tf.Module and friends; tf.zeros() is a tensor
    return True


def _is_plain_keras_base(analysis, base: ast.AST) -> bool:
    """`keras.layers.Layer` / `keras.Model` themselves: no weights of their own."""
    qualname = analysis.qualname(base) or ""
    return qualname in ("keras.layers.Layer", "keras.Layer", "keras.Model", "keras.models.Model")


def _keyword_is_false(call: ast.Call, name: str) -> bool:
    value = next((k.value for k in call.keywords if k.arg == name), None)
    return isinstance(value, ast.Constant) and value.value is False


def _is_accessor_decorator(decorator: ast.AST) -> bool:
    return isinstance(decorator, ast.Attribute) and decorator.attr in ("setter", "deleter", "getter")


def _is_docstring(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant) \
        and isinstance(statement.value.value, str)


def _first_line(definition: ast.FunctionDef) -> int:
    return min([definition.lineno] + [d.lineno for d in definition.decorator_list])


def _deletion(analysis, keras_class: KerasClass, definition: ast.FunctionDef) -> tuple[Edit, int]:
    """Remove the definition's lines (decorators and the comment lines right above included) and, when blank
    lines follow it, the blank lines on one side, so the class keeps its spacing. Returns the edit and the
    first line of code or comment it removes."""
    source = analysis.source
    first = _first_line(definition)
    last = definition.end_lineno

    def blank(line: int) -> bool:
        return 1 <= line <= len(source.line_starts) and source.line(line).strip() == ""

    while first > keras_class.node.body[0].lineno and source.line(first - 1).strip().startswith("#"):
        first -= 1
    first_code = first
    if blank(last + 1) and last + 1 < len(source.line_starts):
        if blank(first - 1):
            while blank(first - 1):
                first -= 1
        else:
            while blank(last + 1) and last + 1 < len(source.line_starts):
                last += 1
    end = source.line_starts[last] if last < len(source.line_starts) else len(source.text)
    return Edit(source.line_starts[first - 1], end, ""), first_code
