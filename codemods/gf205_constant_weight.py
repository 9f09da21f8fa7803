"""GF205: a "weight" that is not a variable (`self.w = init(shape)`) or is derived from weights once, in `build`."""

from __future__ import annotations

import ast

from gradfix.codemods._variables import (is_docstring, is_initializer_result, keras_namespace, layer_classes,
                                         layer_weight_rewrite, self_attribute, walk_function_statements)
from gradfix.analysis.tapes import names_read
from gradfix.edits import lines_before, starts_its_line, whole_lines
from gradfix.rules import FixSafety, Rule
from gradfix.source import Edit


class ConstantWeight(Rule):
    code = "GF205"
    name = "constant-weight"
    summary = "a layer's \"weight\" is a constant: an initializer's result, or computed from weights once in `build`"
    severity = "error"
    fix_safety = FixSafety.SAFE
    triggers = ("def build", "def __init__")
    outside_keras_classes = ()
    explanation = """
## Why gradients stop
A Keras initializer returns a tensor, not a variable: `self.W = init((n, m))` in `build` (the Keras 1
idiom, where `init` made variables) stores a constant. Keras tracks nothing, the optimizer has nothing to
update, and `tape.gradient` w.r.t. the layer's weights is empty. Likewise a value computed from weights
in `build` — `self.kernel = self.mu + self.sigma * eps` in a Bayesian layer — is computed once, before
any tape records it: `call` reads a constant, so `mu` and `sigma` get no gradient (None) and never
train.

## What the fix does
- `self.W = init(shape)` (`init` an initializer object, made in place, bound in the method or stored on
  `self`) → `self.W = self.add_weight(shape=shape, initializer=init)`, keeping `dtype` and `name`.
- A derivation in `build` is moved into `call`, as a local computed on every call, when that is
  mechanical: it reads only weights and module-level names, and only `call` reads the result. Otherwise it
  is reported, with what to move.

## Example
```python
# before
def build(self, input_shape):
    self.mu = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform")
    self.rho = self.add_weight(shape=(input_shape[-1], self.units), initializer="zeros")
    self.kernel = self.mu + tf.nn.softplus(self.rho) * tf.random.normal(self.mu.shape)

def call(self, inputs):
    return tf.matmul(inputs, self.kernel)
# after
def build(self, input_shape):
    self.mu = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform")
    self.rho = self.add_weight(shape=(input_shape[-1], self.units), initializer="zeros")

def call(self, inputs):
    kernel = self.mu + tf.nn.softplus(self.rho) * tf.random.normal(self.mu.shape)
    return tf.matmul(inputs, kernel)
```

## Keras 3 vs Keras 2
The same in both: an initializer's result is a tensor, and a tensor computed in `build` is a constant
to every later tape. (Keras 1 initializers returned variables, which is where the idiom comes from.)
"""

    def check(self, analysis):
        for keras_class in layer_classes(analysis):
            creators = keras_class.state_creating_methods
            keras = keras_namespace(analysis, keras_class.node)
            for method_name in sorted(creators):
                method = keras_class.methods[method_name]
                for statement in walk_function_statements(method):
                    attribute = _stored_attribute(statement)
                    if attribute is None:
                        continue
                    if is_initializer_result(analysis, statement.value, method, keras_class):
                        yield self._initializer_finding(analysis, keras_class, statement, method_name, creators, keras)
                    elif _derived_from_weights(keras_class, statement.value):
                        yield from self._derived_findings(analysis, keras_class, statement, method_name, attribute)

    def _initializer_finding(self, analysis, keras_class, statement, method_name, creators, keras):
        attribute = analysis.segment(statement.targets[0])
        message = (f"`{attribute}` holds what `{analysis.segment(statement.value.func)}(...)` returns "
                   f"({keras_class.name}.{method_name}): a constant tensor, not a variable, so it never trains; "
                   "create it with `self.add_weight(..., initializer=...)`")
        rewrite = layer_weight_rewrite(analysis, keras_class, statement, method_name, creators, keras)
        if rewrite.text is None:
            return self.finding(statement, f"{message}; not rewritten: {rewrite.reason}")
        return self.finding(statement, message, self.fix(analysis.replace(statement, rewrite.text)))

    def _derived_findings(self, analysis, keras_class, statement, method_name, attribute):
        weights = sorted(a for a in _weights_read(keras_class, statement.value))
        names = ", ".join(f"`self.{w}`" for w in weights)
        message = (f"`self.{attribute}` is computed from {names} once, in {keras_class.name}.{method_name}: `call` "
                   f"reads a constant, so {names} {'get' if len(weights) > 1 else 'gets'} no gradient; compute it in `call`")
        move = _move_into_call(analysis, keras_class, statement, method_name, attribute)
        if isinstance(move, str):
            yield self.finding(statement, f"{message}; not moved: {move}")
            return
        fix = self.fix(*move)
        yield self.finding(statement, message, fix)
        yield self.finding(keras_class.methods["call"], f"`call` reads `self.{attribute}`, computed once in "
                                                        f"{method_name}: it now computes it itself", fix)


def _stored_attribute(statement: ast.AST) -> str | None:
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        return self_attribute(statement.targets[0])
    return None


def _weights_read(keras_class, value: ast.AST) -> set[str]:
    """The trainable weights the value reads (a snapshot of frozen state, `trainable=False`, is a constant anyway)."""
    return {node.attr for node in ast.walk(value) if self_attribute(node) in keras_class.weight_attrs
            and not _frozen(keras_class.weight_attrs[node.attr])}


def _frozen(creation: ast.Call) -> bool:
    trainable = next((k.value for k in creation.keywords if k.arg == "trainable"), None)
    return isinstance(trainable, ast.Constant) and trainable.value is False


def _derived_from_weights(keras_class, value: ast.AST) -> bool:
    """Arithmetic or a function of weights (not a weight itself, nor a weight or layer being created)."""
    if not isinstance(value, (ast.BinOp, ast.UnaryOp, ast.Call)) or keras_class.is_weight_creation(value) \
            or not _weights_read(keras_class, value):  # a creation itself: no walk of its arguments needed
        return False
    return not any(keras_class.is_weight_creation(node) or keras_class.is_layer_creation(node)
                   for node in ast.walk(value))


def _move_into_call(analysis, keras_class, statement: ast.Assign, method_name: str, attribute: str):
    """The edits that move `self.<attribute> = <value>` from `build` to the top of `call` as a local, or why not."""
    method = keras_class.methods[method_name]
    call = keras_class.methods.get("call")
    if call is None or method_name != "build":
        return "it is not in `build`, or the class has no `call`"
    if statement not in method.body or len(method.body) == 1 or not starts_its_line(analysis.source, statement) \
            or statement.end_lineno != statement.lineno:
        return "it is not a one-line statement of its own in `build`'s body"
    local_names = {a.arg for a in method.args.args[1:]} | {n.id for n in ast.walk(method) if isinstance(n, ast.Name)
                                                        and isinstance(n.ctx, ast.Store)}
    if names_read(statement.value) & local_names:
        return f"it reads names local to `build` ({', '.join(sorted(names_read(statement.value) & local_names))})"
    readers = [name for name, m in keras_class.methods.items() if name != method_name
               and any(self_attribute(n) == attribute for n in ast.walk(m))]
    if readers != ["call"] or len(keras_class.attribute_values.get(attribute, [])) != 1:
        return f"`self.{attribute}` is used outside `call` too"
    local = attribute.lstrip("_")
    if not local.isidentifier() or any(isinstance(n, ast.Name) and n.id == local for n in ast.walk(call)) \
            or local in {a.arg for a in call.args.args + call.args.kwonlyargs}:
        return f"`{local}` is already a name in `call`"
    first = call.body[1] if is_docstring(call.body[0]) and len(call.body) > 1 else call.body[0]
    if not starts_its_line(analysis.source, first):
        return "`call` starts with a statement that shares its line"
    reads = [n for n in ast.walk(call) if self_attribute(n) == attribute and isinstance(n.ctx, ast.Load)]
    return [Edit(*whole_lines(analysis.source, statement), ""),
            lines_before(analysis.source, first, [f"{local} = {analysis.segment(statement.value)}"],
                         newline=analysis.source.newline),
            *(analysis.replace(n, local) for n in reads)]
