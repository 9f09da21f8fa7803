"""GF301: a Layer/Model overrides `trainable_variables`, `trainable_weights`, `variables` or `weights`."""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field

from gradfix.codemods._variables import (TF_VARIABLE, VARIABLE_CLASSES, WeightRewrite, is_docstring, keras_namespace,
                                         layer_classes, layer_weight_rewrite, may_be_keras_2, self_attribute)
from gradfix.analysis import KerasClass, KerasKind
from gradfix.analysis.tensors import is_self, is_super_call
from gradfix.edits import line_end
from gradfix.rules import Fix, FixSafety, Rule, Span
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


# Private members of Keras's own tracking: an override that reads them implements tracking itself (Keras's
# Model, wrappers of libraries built on Keras), which gradfix cannot compare with anything.
KERAS_BOOKKEEPING = frozenset({"_self_tracked_trackables", "_flatten_layers", "_flatten_modules", "_dedup_weights",
                               "_gather_children_attribute", "_assert_weights_created", "_tracker", "_trainable"})
# Bases that hold no weights of their own (`Wrapper` holds the wrapped layer, as `self.layer`).
_PLAIN_KERAS_BASES = frozenset({"keras.layers.Layer", "keras.Layer", "keras.Model", "keras.models.Model"})
_WRAPPER_BASES = frozenset({"keras.layers.Wrapper", "keras.layers.wrappers.Wrapper"})
# Collections a Keras layer has and a tf.Module does not: what has them is a layer.
_LAYER_ONLY_COLLECTIONS = frozenset({"trainable_weights", "weights", "non_trainable_weights"})
# Keras's own lists of a layer's weights (tf_keras `_trainable_weights`, Keras 3 `_trainable_variables`).
_OWN_WEIGHTS = {"trainable": ("_trainable_weights", "_trainable_variables")}


@dataclass
class _Returned:
    """What an override returns, in terms gradfix can compare with what Keras tracks."""

    default: bool = False  # includes super().<collection>
    own: bool = False  # includes Keras's own list of the layer's weights
    sublayers: set[str] = field(default_factory=set)  # self.<x>.<collection>
    weights: set[str] = field(default_factory=set)  # self.<x>
    lists: set[str] = field(default_factory=set)  # self.<x>, a list of the class's own
    layers_by_api: set[str] = field(default_factory=set)  # sub-layers read through API only Keras layers have
    is_property: bool = False
    deletable: bool = True  # False: deleting the getter alone would break the class (a setter, an empty body)
    problem: str | None = ""  # why gradfix cannot follow it; None: Keras-level bookkeeping, not compared


class TrainableOverride(Rule):
    code = "GF301"
    name = "trainable-collection-override"
    summary = ("override of `trainable_variables`/`trainable_weights`/`variables`/`weights` on a Layer/Model that "
               "differs from what Keras tracks")
    fix_safety = FixSafety.SAFE
    severity = "warning"
    triggers = ("trainable_variables", "trainable_weights", "def variables", "def weights")
    outside_keras_classes = ()
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
An override that returns what Keras tracks anyway is correct, if redundant, and is left alone: the
wrapper idiom `return self.layer.trainable_weights`, `super().trainable_weights` plus weights already in
it, a list of every sub-layer's collection. The others are deleted, so Keras reports every weight it
tracks again:
- an override that leaves out a sub-layer or weight the forward pass uses (the custom loop never
  trains it) — to freeze something on purpose, set `layer.trainable = False` instead, which every
  part of Keras obeys;
- an override that returns a list attribute that is never filled (nothing is trained at all);
- an override written as a plain method (no `@property`);
- an override that adds a bare `tf.Variable`: the variable is tracked with `self.add_weight(...)` (as
  GF201 does) and the override deleted.
An override gradfix cannot follow (logic, filters, attributes of unknown kind), or one that leaves out
only what the forward pass does not use, is reported with its deletion as an unsafe fix
(`--unsafe-fixes`). One that adds a `tf.Module`'s variables is reported only: the holder is the cause
(GF203).

## Example
```python
# before: the encoder is called in `call`, but a loop over `model.trainable_variables` never trains it
class Classifier(tf.keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.encoder = tf.keras.layers.Dense(8)
        self.head = tf.keras.layers.Dense(3)

    def call(self, inputs):
        return self.head(self.encoder(inputs))

    @property
    def trainable_variables(self):
        return self.head.trainable_variables
# after: the override is gone (freeze with `model.encoder.trainable = False` if that was the intent)
class Classifier(tf.keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.encoder = tf.keras.layers.Dense(8)
        self.head = tf.keras.layers.Dense(3)

    def call(self, inputs):
        return self.head(self.encoder(inputs))
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
        returned = _returned(analysis, keras_class, name, definitions)
        if returned.problem is None:
            return  # Keras's own tracking, re-implemented: nothing to compare with
        extras = _untracked_extras(analysis, keras_class, returned)
        verdict = returned.problem and _Verdict(returned.problem,
                                                FixSafety.UNSAFE if returned.deletable else FixSafety.NONE)
        verdict = verdict or _verdict(analysis, keras_class, name, returned, extras)
        if verdict is None:
            return  # it returns what Keras tracks: correct, if redundant
        deletion, first_line = _deletion(analysis, keras_class, getter)
        # The comment lines right above the override go with it, so the finding covers them.
        node = Span.covering(getter, getter, first_line) if first_line < _first_line(getter) else getter
        if verdict.safety is FixSafety.NONE:
            yield self.finding(getter, f"{message}; not rewritten: {verdict.reason}")
        elif verdict.safety is FixSafety.UNSAFE:
            yield self.finding(node, f"{message}; {verdict.reason}. Deleting it lets Keras train every weight it "
                                     f"tracks (unsafe fix: check that nothing is frozen on purpose)",
                               Fix((deletion,), safety=FixSafety.UNSAFE))
        elif not extras:
            yield self.finding(node, f"{message}; {verdict.reason}: delete it", self.fix(deletion))
        else:
            edits = [deletion] + [analysis.replace(statement, rewrite.text) for statement, rewrite in extras]
            fix = self.fix(*edits, needs_tensorflow_import=any(r.needs_tensorflow_import for _, r in extras))
            yield self.finding(node, f"{message}; {verdict.reason}: create it with `self.add_weight(...)` and "
                                     "delete the override", fix)
            for statement, _ in extras:
                # The variable's line changes too; a finding there keeps the fix whole under --select GF301.
                yield self.finding(statement, f"`{analysis.segment(statement.targets[0])}` reaches Keras only "
                                              f"through the {keras_class.name}.{name} override: create it with "
                                              "`self.add_weight(...)`", fix)


@dataclass(frozen=True)
class _Verdict:
    """Why the override differs from what Keras tracks, and how safely deleting it repairs that."""

    reason: str
    safety: FixSafety  # SAFE: delete (and track what it adds); UNSAFE: deletion offered; NONE: report only


def _returned(analysis, keras_class: KerasClass, name: str, definitions) -> _Returned:
    """What the override returns; `problem` says why it cannot be followed, and is None for Keras-level code
    that implements tracking itself from Keras's private bookkeeping."""
    returned = _Returned()
    getter = definitions[0]
    returned.is_property = any(isinstance(d, ast.Name) and d.id == "property" for d in getter.decorator_list)
    if all(s is getter or is_docstring(s) for s in keras_class.node.body):
        returned.problem, returned.deletable = "it is the only member of the class", False
        return returned
    if len(definitions) > 1 or any(_is_accessor_decorator(d) for d in getter.decorator_list):
        returned.problem, returned.deletable = "it has a setter or is defined more than once", False
        return returned
    if any(not (isinstance(d, ast.Name) and d.id == "property") for d in getter.decorator_list):
        returned.problem = "it has decorators other than @property"
        return returned
    if any(isinstance(node, ast.Attribute) and is_self(node.value) and node.attr in KERAS_BOOKKEEPING
           for node in ast.walk(getter)):
        returned.problem = None
        return returned
    body = getter.body[1:] if is_docstring(getter.body[0]) else getter.body
    if len(body) > 1 and _is_untrainable_guard(body[0]):
        body = body[1:]  # `if not self.trainable: return []` is what Keras does too
    if len(body) == 2 and _is_trainable_condition(body[0]) and _returns_empty(body[1]):
        body = body[0].body  # `if self.trainable and self.built: return [...]` then `return []`: the same
    accumulated = _accumulated_sublayers(body, COLLECTIONS[name])
    if accumulated:
        returned.sublayers.add(accumulated)
        returned.layers_by_api.add(accumulated)
    elif len(body) == 1 and isinstance(body[0], ast.Return) and body[0].value is not None:
        _collect(body[0].value, COLLECTIONS[name], returned)
    elif _only_gathers(getter, COLLECTIONS[name]):
        gathered = [n for statement in body for n in ast.walk(statement)
                    if isinstance(n, ast.Attribute) and n.attr in COLLECTIONS]
        if all(self_attribute(n.value) for n in gathered):  # named sub-layers only: compare them with `call`
            returned.sublayers |= {n.value.attr for n in gathered}
            returned.layers_by_api |= {n.value.attr for n in gathered if n.attr in _LAYER_ONLY_COLLECTIONS}
        else:
            returned.problem = None  # it gathers the same collection of its parts (a loop, super()): delegation
    else:
        returned.problem = "it does more than return a list, which gradfix cannot follow"
    return returned


def _only_gathers(getter: ast.FunctionDef, family: str) -> bool:
    """The override reads collections of the same family only (`layer.trainable_weights` in a loop, `super()`'s
    after a `built` check), and neither filters nor slices them: whatever logic is around, it delegates."""
    nodes = [n for statement in getter.body for n in ast.walk(statement)]
    collections = [n for n in nodes if isinstance(n, ast.Attribute) and n.attr in COLLECTIONS]
    filters = any(isinstance(n, ast.Subscript) and isinstance(n.ctx, ast.Load) or
                  isinstance(n, ast.comprehension) and n.ifs for n in nodes)
    return bool(collections) and not filters and all(COLLECTIONS[n.attr] == family for n in collections)


def _is_untrainable_guard(statement: ast.stmt) -> bool:
    """`if not self.trainable: return []`."""
    return isinstance(statement, ast.If) and not statement.orelse and isinstance(statement.test, ast.UnaryOp) \
        and isinstance(statement.test.op, ast.Not) and self_attribute(statement.test.operand) == "trainable" \
        and len(statement.body) == 1 and isinstance(statement.body[0], ast.Return) \
        and isinstance(statement.body[0].value, (ast.List, ast.Tuple)) and not statement.body[0].value.elts


def _is_trainable_condition(statement: ast.stmt) -> bool:
    """`if self.trainable [and self.built]: return <value>`."""
    if not (isinstance(statement, ast.If) and not statement.orelse and len(statement.body) == 1
            and isinstance(statement.body[0], ast.Return) and statement.body[0].value is not None):
        return False
    tests = statement.test.values if isinstance(statement.test, ast.BoolOp) and isinstance(statement.test.op, ast.And) \
        else [statement.test]
    return all(self_attribute(test) in ("trainable", "built") for test in tests)


def _returns_empty(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Return) and isinstance(statement.value, (ast.List, ast.Tuple)) \
        and not statement.value.elts


def _accumulated_sublayers(body: list[ast.stmt], family: str) -> str | None:
    """`x` for `ws = []; for layer in self.x: ws += layer.<collection>; return ws` (or `ws.extend(...)`)."""
    if len(body) != 3 or not (isinstance(body[0], ast.Assign) and len(body[0].targets) == 1
                              and isinstance(body[0].targets[0], ast.Name) and isinstance(body[0].value, ast.List)
                              and not body[0].value.elts):
        return None
    total, loop, result = body[0].targets[0].id, body[1], body[2]
    if not (isinstance(loop, ast.For) and isinstance(loop.target, ast.Name) and self_attribute(loop.iter)
            and len(loop.body) == 1 and not loop.orelse and isinstance(result, ast.Return)
            and isinstance(result.value, ast.Name) and result.value.id == total):
        return None
    step = loop.body[0]
    if isinstance(step, ast.AugAssign) and isinstance(step.target, ast.Name) and step.target.id == total:
        added = step.value
    elif isinstance(step, ast.Expr) and isinstance(step.value, ast.Call) and ast.unparse(step.value.func) \
            == f"{total}.extend" and len(step.value.args) == 1:
        added = step.value.args[0]
    else:
        return None
    if isinstance(added, ast.Attribute) and COLLECTIONS.get(added.attr) == family \
            and isinstance(added.value, ast.Name) and added.value.id == loop.target.id:
        return loop.iter.attr
    return None


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
        elif is_self(expr.value):
            returned.default = True  # `self.trainable_weights` inside `trainable_variables`
        elif self_attribute(expr.value) is not None:
            returned.sublayers.add(expr.value.attr)
            if expr.attr in _LAYER_ONLY_COLLECTIONS:
                returned.layers_by_api.add(expr.value.attr)
        else:
            returned.problem = f"it returns `{ast.unparse(expr)}`, which gradfix cannot follow"
    elif self_attribute(expr) in _OWN_WEIGHTS.get(family, ()):
        returned.own = True
    elif self_attribute(expr) is not None:
        returned.lists.add(expr.attr)
    else:
        returned.problem = f"it returns `{ast.unparse(expr)}`, which gradfix cannot follow"


def _untracked_extras(analysis, keras_class: KerasClass, returned: _Returned) -> list[tuple[ast.Assign, WeightRewrite]]:
    """The `self.x = tf.Variable(...)` statements of weights the override adds by hand, with their rewrites."""
    if may_be_keras_2(analysis):
        return []
    found = []
    creators = keras_class.state_creating_methods
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


def _verdict(analysis, keras_class: KerasClass, name: str, returned: _Returned, extras) -> _Verdict | None:
    """How the override differs from what Keras tracks; None when it does not."""
    family = COLLECTIONS[name]
    for statement, rewrite in extras:
        if rewrite.text is None:
            return _Verdict(f"it adds `{analysis.segment(statement.targets[0])}`, which Keras 3 does not track "
                            f"(not rewritten: {rewrite.reason})", FixSafety.NONE)
    extra_names = {s.targets[0].attr for s, _ in extras}
    for attribute in sorted(returned.weights - extra_names):
        value = keras_class.weight_attrs.get(attribute)
        if value is None and attribute in keras_class.attribute_values:
            return _Verdict(f"it returns `self.{attribute}`, which is not a weight Keras tracks", FixSafety.UNSAFE)
        if value is not None and family == "trainable" and _keyword_is_false(value, "trainable"):
            return _Verdict(f"it adds the non-trainable weight `self.{attribute}` to the trainable ones",
                            FixSafety.UNSAFE)
    for attribute in sorted(returned.sublayers):
        if _made_by_a_holder(analysis, keras_class, attribute):
            return _Verdict(f"it adds the variables of `self.{attribute}`, which Keras 3 does not track: make its "
                            "class a Layer (GF203)", FixSafety.NONE)
        if attribute not in returned.layers_by_api and not _is_sublayer(keras_class, attribute):
            return _Verdict(f"gradfix cannot tell whether Keras tracks `self.{attribute}`", FixSafety.UNSAFE)
    for attribute in sorted(returned.lists):
        if not _never_filled(analysis, keras_class, attribute):
            return _Verdict(f"it returns the list `self.{attribute}`, which gradfix cannot follow", FixSafety.UNSAFE)
        return _Verdict(f"it returns `self.{attribute}`, a list that is never filled, so no weight of "
                        f"{keras_class.name} is trained; to freeze a layer on purpose, set "
                        "`layer.trainable = False`", FixSafety.SAFE)
    if extras:
        added = ", ".join(f"`{analysis.segment(s.targets[0])}`" for s, _ in extras)
        return _Verdict(f"it adds {added}, a bare tf.Variable Keras 3 does not track", FixSafety.SAFE)
    if returned.default or returned.own:
        listed_twice = sorted(returned.weights & set(keras_class.weight_attrs) - extra_names)
        if listed_twice:
            return _Verdict(f"it lists `self.{listed_twice[0]}` twice (Keras's own list holds it already), so an "
                            f"optimizer given the layer's `{name}` applies its gradient twice", FixSafety.SAFE)
    if returned.default:
        return None if returned.is_property else _Verdict(_NOT_A_PROPERTY.format(name), FixSafety.SAFE)
    bases = [analysis.qualname(base) or "" for base in keras_class.node.bases]
    required = _trackable_attributes(analysis, keras_class)
    if any(base in _WRAPPER_BASES for base in bases):
        required.add("layer")  # `keras.layers.Wrapper.__init__` stores the wrapped layer as `self.layer`
    if family == "trainable":
        required -= {a for a, value in keras_class.weight_attrs.items() if _keyword_is_false(value, "trainable")}
    if returned.own:
        required -= set(keras_class.weight_attrs)
    missing = sorted(required - returned.sublayers - returned.weights)
    known = set(keras_class.weight_attrs) | {a for a in missing if _is_sublayer(keras_class, a)}
    forward = [a for a in missing if a in known and _used_on_forward_path(keras_class, a)]
    if forward:
        return _Verdict(f"it leaves out `self.{forward[0]}`, which `call` uses: training loops that take the "
                        f"model's `{name}` never update it; to freeze it on purpose, set "
                        f"`self.{forward[0]}.trainable = False` instead", FixSafety.SAFE)
    if not all(base in _PLAIN_KERAS_BASES or base in _WRAPPER_BASES for base in bases):
        return None  # what its base class holds is unknown, so no difference can be shown
    if missing:
        return _Verdict(f"it leaves out `self.{missing[0]}`, which training loops then skip; to freeze it, set "
                        f"`self.{missing[0]}.trainable = False` instead", FixSafety.UNSAFE)
    return None if returned.is_property else _Verdict(_NOT_A_PROPERTY.format(name), FixSafety.SAFE)


_NOT_A_PROPERTY = ("it is a method, not a property, so `zip(grads, layer.{0})` fails, and it returns what Keras "
                   "tracks anyway")


def _is_sublayer(keras_class: KerasClass, attribute: str) -> bool:
    """Made by a Keras layer class, or used like a layer: called (`self.x(inputs)`) or iterated to call its
    items (a list of layers). Keras tracks both."""
    if attribute in keras_class.layer_attrs:
        return True
    for method in keras_class.methods.values():
        for node in ast.walk(method):
            if isinstance(node, ast.Call) and self_attribute(node.func) == attribute:
                return True
            if isinstance(node, ast.For) and self_attribute(node.iter) == attribute \
                    and _calls_name(node, node.target):
                return True
            if isinstance(node, (ast.ListComp, ast.GeneratorExp)) and len(node.generators) == 1 \
                    and self_attribute(node.generators[0].iter) == attribute \
                    and _calls_name(node.elt, node.generators[0].target):
                return True
    return False


def _calls_name(scope: ast.AST, target: ast.AST) -> bool:
    """Is the loop variable `target` called somewhere in `scope` (`for layer in self.xs: h = layer(h)`)?"""
    return isinstance(target, ast.Name) and any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == target.id for n in ast.walk(scope))


def _made_by_a_holder(analysis, keras_class: KerasClass, attribute: str) -> bool:
    """`self.x = Holder(...)` where `Holder` is a tf.Module or a plain class of this file: not tracked by Keras 3."""
    plain_classes = {node.name for node in analysis.tree.body if isinstance(node, ast.ClassDef)} \
        - {c.name for c in analysis.keras_classes if c.kind is not KerasKind.MODULE}
    for value in keras_class.attribute_values.get(attribute, []):
        if isinstance(value, ast.Call):
            callee = analysis.qualname(value.func) or (value.func.id if isinstance(value.func, ast.Name) else None)
            if callee in plain_classes or analysis.index.kind_of_base(callee) is KerasKind.MODULE:
                return True
    return False


def _never_filled(analysis, keras_class: KerasClass, attribute: str) -> bool:
    """`self.x = []` and nothing else in the file ever touches `.x` but the override's `return self.x`."""
    values = keras_class.attribute_values.get(attribute, [])
    if not values or not all(isinstance(v, (ast.List, ast.Tuple)) and not v.elts for v in values):
        return False
    reads = [n for n in ast.walk(analysis.tree) if isinstance(n, ast.Attribute) and n.attr == attribute
             and isinstance(n.ctx, ast.Load)]
    return len(reads) == 1


def _used_on_forward_path(keras_class: KerasClass, attribute: str) -> bool:
    return any(self_attribute(node) == attribute for name in keras_class.forward_method_names
               for node in ast.walk(keras_class.methods[name]))


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


def _keyword_is_false(call: ast.Call, name: str) -> bool:
    value = next((k.value for k in call.keywords if k.arg == name), None)
    return isinstance(value, ast.Constant) and value.value is False


def _is_accessor_decorator(decorator: ast.AST) -> bool:
    return isinstance(decorator, ast.Attribute) and decorator.attr in ("setter", "deleter", "getter")


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
    return Edit(source.line_starts[first - 1], line_end(source, last), ""), first_code
