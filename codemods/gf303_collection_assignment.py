"""GF303: `self.trainable_weights = [...]` (or `non_trainable_weights`) — the Keras 1 way to register weights."""

from __future__ import annotations

import ast

from gradfix.codemods._variables import (WeightRewrite, is_initializer_result, is_variable_call, keras_namespace,
                                         layer_classes, layer_weight_rewrite, self_attribute, walk_function_statements)
from gradfix.edits import shares_last_line, starts_its_line, text_before, whole_lines
from gradfix.rules import FixSafety, Rule
from gradfix.source import Edit

ASSIGNED_COLLECTIONS = ("trainable_weights", "non_trainable_weights", "trainable_variables",
                        "non_trainable_variables", "weights", "variables")


class CollectionAssignment(Rule):
    code = "GF303"
    name = "collection-assignment"
    summary = "assignment to `self.trainable_weights`/`non_trainable_weights` (the Keras 1 way to register weights)"
    severity = "error"
    fix_safety = FixSafety.SAFE
    triggers = ("weights", "variables")
    outside_keras_classes = ()
    explanation = """
## Why gradients stop
Keras 1 layers registered their weights by assigning the list: `self.trainable_weights = [self.W, self.b]`
in `build`. Since Keras 2 these are read-only properties computed from the weights Keras tracks: the
assignment raises `AttributeError` (Keras 3, tf_keras), or — where some base class lets it through —
replaces the list Keras reads, so what it names is trained by some code paths and not others. The
weights themselves were often made the Keras 1 way too (`K.variable`, `tf.Variable`, an initializer's
result), which Keras 3 does not track at all.

## What the fix does
Deletes the assignment. Each weight it lists that is not an `add_weight` weight yet — a bare
`tf.Variable`, or an initializer's result `init(shape)` — becomes `self.add_weight(...)` with the same
shape, initial value, dtype and trainable flag (the GF201/GF205 conversion), so Keras tracks exactly
the weights the list named. When a listed weight cannot be converted, or the list names something that is
not a weight of the layer, the assignment is reported and left alone.

## Example
```python
# before
def build(self, input_shape):
    self.W = tf.Variable(tf.random.normal((input_shape[-1], self.units)))
    self.trainable_weights = [self.W]
# after
def build(self, input_shape):
    self.W = self.add_weight(
        shape=(input_shape[-1], self.units),
        initializer=tf.keras.initializers.RandomNormal(stddev=1.0),
    )
```

## Keras 3 vs Keras 2
Both raise on the assignment (`trainable_weights` is a property without a setter). The weight conversion
matters most for Keras 3, which does not track bare `tf.Variable`s; `add_weight` is right in both.
"""

    def check(self, analysis):
        for keras_class in layer_classes(analysis):
            creators = keras_class.state_creating_methods
            keras = keras_namespace(analysis, keras_class.node)
            for method_name, method in keras_class.methods.items():
                for statement in walk_function_statements(method):
                    if isinstance(statement, (ast.Assign, ast.AugAssign)):
                        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
                        if any(self_attribute(t) in ASSIGNED_COLLECTIONS for t in targets):
                            yield from self._findings(analysis, keras_class, statement, method_name, creators, keras)

    def _findings(self, analysis, keras_class, statement, method_name, creators, keras):
        collection = next(self_attribute(t) for t in _targets(statement) if self_attribute(t))
        message = (f"`self.{collection}` is assigned ({keras_class.name}.{method_name}): it is a read-only "
                   "property since Keras 2 (AttributeError), and Keras tracks weights made with "
                   "`self.add_weight(...)` by itself")
        conversions, reason = _conversions(analysis, keras_class, statement, creators, keras)
        if reason:
            yield self.finding(statement, f"{message}; not rewritten: {reason}")
            return
        edits = [_deletion(analysis, keras_class.methods[method_name], statement)]
        edits += [analysis.replace(s, rewrite.text) for s, rewrite in conversions]
        # One finding for the one cause: the weight statements the fix rewrites are owned by it, and reported by
        # the rules of their own causes (GF201 a bare tf.Variable, GF205 an initializer's constant).
        fix = self.fix(*edits, needs_tensorflow_import=any(r.needs_tensorflow_import for _, r in conversions),
                       owns=tuple(s for s, _ in conversions))
        converted = ", ".join(f"`{analysis.segment(s.targets[0])}`" for s, _ in conversions)
        advice = f"create {converted} with `self.add_weight(...)` and delete the assignment" if conversions \
            else "delete the assignment"
        yield self.finding(statement, f"{message}; {advice}", fix)


def _targets(statement):
    return statement.targets if isinstance(statement, ast.Assign) else [statement.target]


def _conversions(analysis, keras_class, statement, creators, keras
                 ) -> tuple[list[tuple[ast.Assign, WeightRewrite]], str]:
    """(the weight statements to rewrite as add_weight with their rewrites, why the fix is refused or '')."""
    if not isinstance(statement, ast.Assign) or len(statement.targets) != 1:
        return [], "it is not a plain assignment"
    if not starts_its_line(analysis.source, statement) or shares_last_line(analysis.source, statement):
        return [], "it shares its line with other code"
    value = statement.value
    if isinstance(value, ast.BinOp) or not isinstance(value, (ast.List, ast.Tuple)):
        return [], f"gradfix cannot tell what `{analysis.segment(value)}` holds"
    conversions = []
    for element in value.elts:
        attribute = self_attribute(element)
        if attribute is None:
            return [], f"`{analysis.segment(element)}` is not a weight of the layer"
        made = [(name, s) for name, method in keras_class.methods.items() for s in walk_function_statements(method)
                if isinstance(s, ast.Assign) and len(s.targets) == 1 and self_attribute(s.targets[0]) == attribute]
        if len(made) != 1:
            return [], f"`self.{attribute}` is assigned {len(made)} times"
        method_name, weight_statement = made[0]
        if _is_add_weight(weight_statement.value):
            continue
        if not (is_variable_call(analysis, weight_statement.value) or is_initializer_result(
                analysis, weight_statement.value, keras_class.methods[method_name], keras_class)):
            return [], f"`self.{attribute}` is not made by `add_weight`, `tf.Variable` or an initializer"
        rewrite = layer_weight_rewrite(analysis, keras_class, weight_statement, method_name, creators, keras)
        if rewrite.text is None:
            return [], f"`self.{attribute}` cannot become an `add_weight` weight: {rewrite.reason}"
        conversions.append((weight_statement, rewrite))
    return conversions, ""


def _is_add_weight(value: ast.AST) -> bool:
    return isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) \
        and value.func.attr in ("add_weight", "add_variable") and self_attribute(value.func) is not None


def _deletion(analysis, method: ast.FunctionDef, statement: ast.stmt) -> Edit:
    """The statement's whole lines, or `pass` in its place when it is the only statement of its block."""
    source = analysis.source
    alone = any(getattr(node, block, None) == [statement] for node in ast.walk(method)
                for block in ("body", "orelse", "finalbody"))
    replacement = f"{text_before(source, statement)}pass{source.newline}" if alone else ""
    return Edit(*whole_lines(source, statement), replacement)
