"""Finding + fix for a numpy call on tensors, shared by the rules that look for it in different places
(a layer's forward path, a loss function, a GradientTape block). One mapping table serves them all.

A fix is whole or absent: the call is rewritten only when its whole island converts (`island_blocker`: the
connected NumPy computation, across names, operators, helpers and return values — every consumer takes a
tensor or is a member rewritten too, every NumPy operand that copies a tensor is made by a member), and when
no member's result can depend on a dtype or rank the value-flow analysis does not know (`dtype_blocker`).
Otherwise every member is reported with the reason and nothing is changed."""

from __future__ import annotations

import ast
from dataclasses import replace
from typing import TYPE_CHECKING, Callable

from gradfix.codemods._variables import may_be_keras_2
from gradfix.analysis import FileAnalysis, Kind, TensorScope, Value
from gradfix.analysis.imports import import_bindings
from gradfix.analysis.values import FLOAT_DTYPES
from gradfix.analysis.flow import argument_for
from gradfix.edits import MAX_LINE
from gradfix.rules import Finding, Rule

if TYPE_CHECKING:  # the mapping table is imported only when a numpy call on a tensor is found
    from gradfix.numpy_to_tf import CallText, TranslationContext

# numpy's converters are GF102's business (they are dropped, not translated).
CONVERTERS = frozenset({"asarray", "array", "asanyarray", "ascontiguousarray"})
KERAS_EVALUATORS = ("keras.backend.eval", "keras.backend.get_value")  # GF102 drops them too
# With integer inputs these give the same dtype in numpy and TF (all other mapped functions do not:
# numpy computes exp/mean/... of ints in float64, TF rejects or truncates them).
INTEGER_SAFE = frozenset({"reshape", "transpose", "expand_dims", "squeeze", "concatenate", "stack", "argmax",
                          "argmin", "max", "amax", "min", "amin", "zeros_like", "ones_like", "abs", "absolute",
                          "negative", "square", "maximum", "minimum", "add", "subtract", "multiply", "where",
                          "clip", "sign", "take", "split", "sort"})
# The result depends on whether the input is an integer: refused unless a float dtype is known.
FLOAT_DEPENDENT = frozenset({"mean", "std", "var", "divide", "true_divide"})
# Binary functions whose first operand, a Python int, TF turns into an int32 tensor.
BINARY = frozenset({"add", "subtract", "multiply", "divide", "true_divide", "power", "maximum", "minimum", "dot",
                    "matmul"})


def numpy_function(analysis: FileAnalysis, call: ast.Call) -> str | None:
    """`dot` for `np.dot(...)`, `linalg.norm` for `onp.linalg.norm(...)`; None if not a numpy call."""
    qualname = analysis.qualname(call.func)
    if qualname and qualname.startswith("numpy."):
        return qualname[len("numpy."):]
    return None


def numpy_calls_on_tensors(analysis: FileAnalysis, scope: TensorScope,
                           on_path: Callable[[ast.Call], bool] | None = None):
    """(call, function) for every numpy call in the scope that receives a tensor and whose result stays on the
    gradient path (`on_path`, by default: it reaches the function's output); converters excluded. NumPy on a
    value that leaves the path (action sampling, label normalisation, logging) is correct and not reported."""
    on_path = on_path or scope.reaches_output
    for call in scope.calls():
        function = numpy_function(analysis, call)
        if function and function not in CONVERTERS and not function.startswith("random.") \
                and scope.any_tensor_argument(call) and on_path(call):
            yield call, function


def numpy_call_finding(rule: Rule, analysis: FileAnalysis, scope: TensorScope, call: ast.Call,
                       function: str, where: str, on_path: Callable[[ast.AST], bool] | None = None) -> Finding:
    """Report `np.<function>(...)` found `where`, with the exact TF rewrite when there is one for this call and
    for everything its result flows into (`on_path`: does a value stay on the gradient path, by default: does
    it reach the function's output)."""
    from gradfix.numpy_to_tf import CallText, operand_count, translate
    context = translation_context(analysis, scope, call)
    operands = [scope.value(a) for a in call.args[:operand_count(function)]]
    on_tensor = any(v.on_gradient_path or v.kind is Kind.UNKNOWN and v.derived for v in operands) \
        or any(scope.value(k.value).on_gradient_path for k in call.keywords)
    message = f"np.{function}() {'on a tensor' if on_tensor else 'on a NumPy copy of a tensor'} {where} " \
              "returns a NumPy array: gradients stop here"
    written = _with_float_first_operand(call, CallText.parse(analysis.segment(call)), function, operands)
    translation = translate(function, written, context)
    if translation is None:
        return rule.finding(call, f"{message}; no TensorFlow equivalent is known, rewrite it with TF ops")
    if translation.replacement is None:
        return rule.finding(call, f"{message}; not rewritten: {translation.note}")
    reason = dtype_blocker(analysis, scope, call, function) or keras_ops_blocker(scope, call, context) \
        or island_blocker(analysis, scope, call, on_path or scope.reaches_output)
    constants = {analysis.segment(node) for node in ast.walk(call)
                 if node is not call and isinstance(node, ast.Call) and not scope.value(node).derived}
    suggestion = _suggestion(final_code(translation.replacement, context, constants))
    if reason:
        return rule.finding(call, f"{message}; not rewritten: {reason} (the TensorFlow form would be {suggestion})")
    replacement = translation.replacement
    note = f" ({translation.note})" if translation.note else ""
    uses_tensorflow = context.tf is not None and f"{context.tf}." in replacement
    fix = rule.fix(analysis.replace(call, replacement),
                   needs_tensorflow_import=uses_tensorflow and not analysis.tensorflow_imported)
    return rule.finding(call, f"{message}; use {suggestion}{note}", fix)


def translation_context(analysis: FileAnalysis, scope: TensorScope, call: ast.Call) -> "TranslationContext":
    """Names and ranks for translating `call` (and the calls inside it), ranks from the value-flow analysis."""
    from gradfix.numpy_to_tf import TranslationContext

    ranks: dict[str, int | None] = {}
    for node in ast.walk(call):
        if isinstance(node, ast.expr):
            ranks.setdefault(analysis.segment(node), scope.value(node).rank)

    tensorflow, numpy_ops = op_namespaces(analysis)
    return TranslationContext(
        tf=tensorflow,
        qualname=lambda expr: analysis.qualname(ast.parse(expr.strip(), mode="eval").body),
        rank_of=ranks.get,
        numpy_ops=numpy_ops,
    )


def op_namespaces(analysis: FileAnalysis) -> tuple[str | None, str | None]:
    """(TensorFlow, a NumPy-compatible namespace) to write the fixes of this file with. Plain TF ops where the
    ranks and values are known; where they are not, Keras 3 code that names keras.ops (`keras.ops`, `ops`) gets
    it, and other code tf.experimental.numpy, which needs no global switch for dot/matmul: `tf.keras.ops` would
    raise AttributeError in a file whose Keras is undeclared when it runs with TF_USE_LEGACY_KERAS=1. A Keras 3
    file that imports the `keras` package and not TensorFlow is backend-agnostic: TensorFlow None, every fix is
    keras.ops (None when the file has no name to reach keras.ops with), and `import tensorflow` is never added."""
    if may_be_keras_2(analysis):
        return analysis.tf_name, f"{analysis.tf_name}.experimental.numpy"
    bindings = list(import_bindings(analysis.source.text))
    keras_ops = next((local for local, module in bindings if module == "keras.ops"), None) or next(
        (f"{local}.ops" for local, module in bindings if module == "keras"), None)
    if not analysis.tensorflow_imported and any(module.split(".")[0] == "keras" for _, module in bindings):
        return None, keras_ops
    return analysis.tf_name, keras_ops or f"{analysis.tf_name}.experimental.numpy"


# --- what the rewrite may not be sure of -------------------------------------------------------------------
def keras_ops_blocker(scope: TensorScope, call: ast.Call, context: "TranslationContext") -> str | None:
    """In a file fixed with keras.ops only: keras.ops makes a Python float a float32 before it meets a float64
    tensor, where numpy keeps the number exact (measured: np.dot(a, 1.9083) off by 4e-9 relative)."""
    if context.tf is not None:
        return None
    values = [scope.value(a) for a in [*call.args, *(k.value for k in call.keywords)]]
    if any(v.dtype == "float64" for v in values) and any(v.is_python_scalar and v.dtype == "float" for v in values):
        return "keras.ops makes the Python float a float32 before it meets the float64 tensor; numpy keeps it exact"
    return None


def dtype_blocker(analysis: FileAnalysis, scope: TensorScope, call: ast.Call, function: str) -> str | None:
    """Why the TF op could compute another dtype or fail where numpy does not, given what is known of the
    operands' dtypes and ranks; None when the rewrite is exact."""
    from gradfix.numpy_to_tf import operand_count

    operands = call.args[:operand_count(function)]
    values = [scope.value(a) for a in operands]
    for node, value in zip(operands, values):
        reason = constant_blocker(analysis, node, value)
        if reason:
            return reason
    chosen = values[1:] if function == "where" else values  # np.where's condition is not computed with
    arrays = [v for v in chosen if not v.is_python_scalar and v.kind is not Kind.PYTHON and not _float_scalar(v)]
    dtypes = {v.dtype for v in arrays if v.dtype}
    integer = sorted(d for d in dtypes if d.startswith(("int", "uint")) or d == "bool")
    if integer and function not in INTEGER_SAFE:
        return f"the input is {integer[0]}: numpy computes np.{function} of integers in float64, " \
               f"{analysis.tf_name} keeps or rejects the integer dtype"
    if dtypes & set(FLOAT_DTYPES) and any(v.dtype is None and v.kind is Kind.TENSOR for v in arrays):
        return "one operand's dtype is not known and it carries no gradient (labels, data: it may be int): " \
               "numpy promotes, TensorFlow requires one dtype"
    if len(dtypes) > 1:
        return f"the operands have dtypes {' and '.join(sorted(dtypes))}: numpy promotes, TensorFlow requires " \
               "one dtype"
    if "float64" in dtypes and any(v.dtype is None for v in arrays):
        return "one operand is float64 and the other's dtype is not known: numpy promotes, TensorFlow " \
               "requires one dtype"
    if function in FLOAT_DEPENDENT and not (arrays and all(v.is_float for v in arrays)):
        return f"the input's dtype is not known: for integers np.{function} gives float64, " \
               f"{analysis.tf_name} truncates or rejects them"
    if function in BINARY and len(values) > 1 and values[0].is_python_scalar and values[0].dtype == "int" \
            and not values[1].is_float:
        return "the first operand is a Python int and the other's dtype is not known: TensorFlow would make " \
               "it an int32 tensor"
    if function == "where" and values and values[0].dtype != "bool":
        return "the condition is not known to be boolean: np.where takes any truthy values, tf.where only bools"
    if function == "transpose" and any(_negative(a) for a in [*call.args[1:], *(k.value for k in call.keywords)]) \
            and (values[0].rank if values else None) is None:
        return "negative axes need the rank, which is not known here: tf.transpose rejects them"
    if function == "reshape":
        shape = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords
                                                              if k.arg in ("shape", "newshape")), None)
        if shape is not None and scope.value(shape).length is None and not isinstance(shape, (ast.Tuple, ast.List)):
            return "the shape may be a scalar, which tf.reshape does not take: write it as a list"
    return None


def constant_blocker(analysis: FileAnalysis, node: ast.AST, value: Value, operator: bool = False) -> str | None:
    """A constant that makes numpy promote what it is computed with to float64, where TF keeps float32 (an
    operator: `t * np.sqrt(d)`) or refuses the mix (a TF op)."""
    text = _short(analysis.segment(node))
    if value.kind is Kind.PYTHON and value.rank and not value.container and value.dtype in ("float", "int"):
        return f"the list `{text}` becomes a {_numpy_default(value.dtype)} array in numpy, which promotes the " \
               "result; TF would keep the tensor's dtype"
    if value.kind is Kind.NUMPY and not value.derived and value.dtype in (None, "float64") and not _float_scalar(value):
        tensorflow = "a tensor operator would keep float32" if operator else \
            "TF refuses to mix it with a float32 tensor"
        return f"`{text}` is a NumPy constant of dtype {value.dtype or 'unknown (float64 by default)'}: numpy " \
               f"promotes the result to float64, {tensorflow}"
    return None


def _float_scalar(value: Value) -> bool:
    """A float64 NumPy scalar constant (`1.0 / np.sqrt(units)`: np.float64 subclasses Python float), not an
    array: TF ops and tensor operators take it at the tensor's dtype, as they take a Python float, so a float32
    computation stays float32, the layer's compute dtype (measured, TF 2.21: `x * s`, `tf.maximum(x, s)`,
    `tf.where(c, x, s)`, `tf.clip_by_value(x, s, 2.0)` are float32), where numpy would promote to float64.
    keras.ops and tf.experimental.numpy promote it as numpy does (measured): not a TF op target for them."""
    return value.kind is Kind.NUMPY and not value.derived and value.dtype == "float64" and value.rank == 0


def _with_float_first_operand(call: ast.Call, written: "CallText", function: str,
                              operands: list[Value]) -> "CallText":
    """`np.maximum(0, h)` with h known float → translate `np.maximum(0.0, h)`: TF would make the int literal an
    int32 tensor."""
    if function not in BINARY or len(operands) < 2 or not isinstance(call.args[0], ast.Constant):
        return written
    first, other = operands[0], operands[1]
    if not (first.is_python_scalar and first.dtype == "int") or not other.is_float:
        return written
    first_arg = replace(written.args[0], value=f"{float(call.args[0].value)!r}")
    return replace(written, args=(first_arg, *written.args[1:]))


def island_blocker(analysis: FileAnalysis, scope: TensorScope, node: ast.AST, on_path: Callable[[ast.AST], bool]
                   ) -> str | None:
    """Why `node`'s NumPy island cannot be converted whole; None when it can. The island is every value that
    becomes a tensor once `node` is rewritten, followed both ways through names, operators, indexing, helper
    functions (arguments to parameters, return values to call sites) and containers: the numpy calls and
    `.numpy()` copies that produce its NumPy operands, and everything that consumes its result. It converts
    only when each numpy call in it has an exact rewrite with known dtypes, and each consumer takes a tensor
    (not `.reshape`, `.T`, `.tolist()`, item assignment, a NumPy-only API or Python iteration)."""
    flows = [flow for flow in scope.view.flows if id(node) in flow.values] or [None]
    island = _Island(analysis, scope, on_path)
    for flow in flows:
        island.add(flow, node)
    return island.reason(node)


_PASS_THROUGH = (ast.BinOp, ast.UnaryOp, ast.Compare, ast.IfExp, ast.Subscript, ast.List, ast.Tuple, ast.Starred)


class _Island:
    """The connected NumPy computation around one value, walked once: the first reason it cannot convert."""

    def __init__(self, analysis: FileAnalysis, scope: TensorScope, on_path: Callable[[ast.AST], bool]):
        self.analysis = analysis
        self.scope = scope
        self.on_path = on_path
        self.queue: list[tuple[object, ast.AST, bool]] = []
        self.seen: set[tuple[int, int, bool]] = set()

    def add(self, flow, node: ast.AST, converted: bool = True) -> None:
        """`node` becomes a tensor with the rewrite (`converted`), or is a tensor whose operands are looked at
        for NumPy copies that stay (`y_pred + h` where `h` is NumPy: that NumPy must convert too)."""
        key = (id(flow), id(node), converted)
        if key not in self.seen:
            self.seen.add(key)
            self.queue.append((flow, node, converted))

    def reason(self, start: ast.AST) -> str | None:
        while self.queue:
            flow, node, converted = self.queue.pop(0)
            reason = self._member(flow, node) or self._operands(flow, node, converted) or \
                (self._consumers(flow, node) if converted else None)
            if reason:
                if node is start or not (isinstance(node, ast.Call) and numpy_function(self.analysis, node)):
                    return reason
                return f"`{_short(self.analysis.segment(node))}` (line {node.lineno}), in the same NumPy " \
                       f"computation, is not rewritten: {reason}"
        return None

    # --- the view of one flow -------------------------------------------------------------------------
    def _view(self, flow):
        if flow is None or flow.function is self.scope.function:
            return self.scope.view
        from gradfix.analysis import FlowView
        return FlowView(flow.function, (flow,))

    def _value(self, flow, node: ast.AST) -> Value:
        return flow.value(node) if flow is not None and id(node) in flow.values else self.scope.value(node)

    def _uses(self, flow, node: ast.AST):
        return flow.uses(node) if flow is not None else self.scope.uses(node)

    def _on_path(self, flow, node: ast.AST) -> bool:
        if flow is None or flow.function is self.scope.function:
            return self.on_path(node)
        return flow.reaches_output(node)

    def _is_copy(self, node: ast.AST) -> bool:
        """`t.numpy()`, `K.eval(t)`, `K.get_value(t)`: dropped for the tensor itself (GF102)."""
        return _is_numpy_method(node) or isinstance(node, ast.Call) and \
            self.analysis.qualname(node.func) in KERAS_EVALUATORS

    # --- what each member needs ------------------------------------------------------------------------
    def _member(self, flow, node: ast.AST) -> str | None:
        """A numpy call of the island must have an exact rewrite that a rule makes (it computes on a tensor)."""
        from gradfix.numpy_to_tf import MAPPED_FUNCTIONS, CallText, translate

        function = numpy_function(self.analysis, node) if isinstance(node, ast.Call) else None
        if function is None or function in CONVERTERS:
            return None
        if function not in MAPPED_FUNCTIONS or function.startswith("random."):
            return f"`np.{function}(...)` needs a NumPy value"
        view = self._view(flow)
        on_tensor = self.scope.is_tensor if view is self.scope.view else lambda a: view.value(a).carries_gradient
        if not any(map(on_tensor, [*node.args, *(k.value for k in node.keywords)])):
            return f"`np.{function}(...)` is not seen to compute on a tensor, so it would stay NumPy"
        context = translation_context(self.analysis, view, node)
        translation = translate(function, CallText.parse(self.analysis.segment(node)), context)
        if translation is None or translation.replacement is None:
            return f"`np.{function}(...)` has no exact TensorFlow rewrite here"
        return dtype_blocker(self.analysis, view, node, function) or keras_ops_blocker(view, node, context)

    def _operands(self, flow, node: ast.AST, converted: bool) -> str | None:
        """Every NumPy copy of a tensor that flows into the member must be made by a member too."""
        if self._is_copy(node):
            return None  # its operand is the tensor itself
        if isinstance(node, ast.Name):
            return self._producers(flow, node, converted)
        if isinstance(node, ast.Call):
            if numpy_function(self.analysis, node) is None:
                callee = flow.callee_of.get(id(node)) if flow is not None else None
                for returned in callee.return_values if callee is not None else ():
                    self.add(callee, returned, converted)
                return None
            children = [*node.args, *(k.value for k in node.keywords)]
        else:
            children = list(ast.iter_child_nodes(node)) if isinstance(node, _PASS_THROUGH) else []
        for child in children:
            if isinstance(child, ast.expr) and self._value(flow, child).numpy_copy_of_gradient:
                reason = self._producer(flow, child)
                if reason:
                    return reason
            elif isinstance(child, (ast.Name, *_PASS_THROUGH)) and self._value(flow, child).is_tensor:
                self.add(flow, child, converted=False)
        return None

    def _producer(self, flow, node: ast.AST) -> str | None:
        if isinstance(node, (ast.Call, ast.Name, *_PASS_THROUGH)):
            if isinstance(node, ast.Call) and not self._is_copy(node) and numpy_function(self.analysis, node) \
                    is None and (flow is None or id(node) not in flow.callee_of):
                return f"`{_short(self.analysis.segment(node))}` makes a NumPy copy that has no TensorFlow rewrite"
            self.add(flow, node)
            return None
        return f"`{_short(self.analysis.segment(node))}` makes a NumPy copy that has no TensorFlow rewrite"

    def _producers(self, flow, name: ast.Name, converted: bool) -> str | None:
        if flow is None:
            return None
        for definition in flow.definitions_reaching(name):
            if isinstance(definition.node, ast.arg):
                callers = self.analysis.values.callers(flow)
                if not callers and converted:
                    return f"`{name.id}` is a NumPy array given by the caller"
                for caller, call in callers:
                    argument = argument_for(flow.function, call, name.id)
                    if argument is None and converted:
                        return f"`{name.id}` is a NumPy array given by the caller"
                    if argument is not None:
                        self.add(caller, argument, converted)
                continue
            value = definition.value.value if isinstance(definition.value, ast.AugAssign) else definition.value
            if value is not None:
                self.add(flow, value, converted or self._value(flow, value).numpy_copy_of_gradient)
        return None

    def _consumers(self, flow, node: ast.AST) -> str | None:
        """Everything the member's value flows into must take a tensor, or be a member itself."""
        from gradfix.numpy_to_tf import MAPPED_FUNCTIONS

        for use in self._uses(flow, node):
            if use.role in ("operator", "subscript") and use.accepts_tensor:
                reason = self._mixed_constant(flow, use.node) if use.role == "operator" else None
                if reason:
                    return reason
                self.add(flow, use.node)
                continue
            if use.role == "return":
                for caller, call in self.analysis.values.callers(flow) if flow is not None else ():
                    self.add(caller, call)
                continue
            function = numpy_function(self.analysis, use.node) if use.role == "argument" else None
            if function in CONVERTERS:
                self.add(flow, use.node)  # np.asarray(t) becomes the tensor itself (GF102)
                continue
            if function is not None:
                if function in MAPPED_FUNCTIONS and self._on_path(flow, use.node):
                    self.add(flow, use.node)
                    continue
                if not self._on_path(flow, use.node) and not function.startswith("random."):
                    continue  # off the path (logging): numpy takes the eager tensor as it took the array
                return describe(self.analysis, use)
            callee = flow.callee_of.get(id(use.node)) if flow is not None and use.role == "argument" else None
            if callee is not None:
                self._into_callee(callee, use)
                continue
            if not use.accepts_tensor:
                return describe(self.analysis, use)
        return None

    def _mixed_constant(self, flow, operator: ast.AST) -> str | None:
        """`member * np.sqrt(d)`: numpy gives float64, the tensor operator keeps float32."""
        if not isinstance(operator, ast.BinOp):
            return None
        for operand in (operator.left, operator.right):
            reason = constant_blocker(self.analysis, operand, self._value(flow, operand), operator=True)
            if reason:
                return reason
        return None

    def _into_callee(self, callee, use) -> None:
        """A helper given a member: its parameter's reads join the island (its return value comes back)."""
        for definition in list(callee.definitions.values()):
            if isinstance(definition.node, ast.arg) and \
                    argument_for(callee.function, use.node, definition.name) is use.operand:
                for load in callee.loads_of(definition.node):
                    self.add(callee, load)


def _is_numpy_method(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "numpy" \
        and not node.args and not node.keywords


def describe(analysis: FileAnalysis, use) -> str:
    """Why this consumer needs an ndarray, for the message."""
    if use.role in ("method", "attribute"):
        return f"its result is used by `.{use.detail}`, which a tf.Tensor does not have"
    if use.role == "item-assignment":
        return "its result is assigned into (`a[...] = ...`), which a tf.Tensor does not allow"
    if use.role == "subscript":
        return "its result is indexed with a boolean mask, which a tf.Tensor does not support"
    if use.role == "iterate":
        return "its result is iterated in Python"
    if use.role == "condition":
        return "its result is used as a Python truth value"
    if use.role == "argument" and use.detail:
        name = use.detail.replace("numpy.", "np.")
        return f"its result goes to `{name}(...)`, which needs a NumPy value"
    return f"its result is used by `{_short(analysis.segment(use.node))}`, which needs a NumPy value"


# --- the code shown in messages ------------------------------------------------------------------------------
def final_code(replacement: str, context: "TranslationContext", constants: set[str]) -> str:
    """The rewritten call as it reads once the other fixes of its island are applied too: no `.numpy()` of a
    tensor inside, inner numpy calls translated except the `constants` (their code), which the fix leaves as
    they are (`np.log(2.0)`)."""
    from gradfix.numpy_to_tf import CallText, translate

    def finished(node: ast.expr, text: str) -> str:
        """`node`, whose code is `text`, as it reads once every call in it is finished, innermost first."""
        if not isinstance(node, ast.Call):
            return text
        call = ast.parse(text, mode="eval").body
        if isinstance(call.func, ast.Attribute) and call.func.attr == "numpy" and not call.args \
                and not call.keywords:
            function = ast.get_source_segment(text, call.func)
            return function[:function.rindex(".")].rstrip()
        name = context.qualname(ast.get_source_segment(text, call.func)) or ""
        if name.startswith("numpy.") and original_code[node] not in constants:
            inner = translate(name[len("numpy."):], CallText.parse(text), context)
            if inner is not None and inner.replacement is not None:
                return inner.replacement
        return text

    tree = ast.parse(replacement, mode="eval")
    original_code = {node: ast.get_source_segment(replacement, node) for node in ast.walk(tree)
                     if isinstance(node, ast.Call)}
    return _rewritten(replacement, tree.body, finished)


def _rewritten(code: str, node: ast.expr, rewrite: Callable[[ast.expr, str], str]) -> str:
    """`code` with `node` (of the tree parsed from it) rewritten bottom-up: each expression in it, innermost first,
    becomes `rewrite(expression, its code with its own parts rewritten)`; the text between (parentheses, layout)
    stays as it is."""
    line_starts = [0] + [i + 1 for i, char in enumerate(code) if char == "\n"]

    def offset(line: int, column: int) -> int:  # ast columns count UTF-8 bytes
        start = line_starts[line - 1]
        return start + len(code[start:start + column].encode()[:column].decode())

    def text(node: ast.expr) -> str:
        position = offset(node.lineno, node.col_offset)
        pieces = []
        for part in _expressions_below(node):
            pieces += [code[position:offset(part.lineno, part.col_offset)], text(part)]
            position = offset(part.end_lineno, part.end_col_offset)
        pieces.append(code[position:offset(node.end_lineno, node.end_col_offset)])
        return rewrite(node, "".join(pieces))

    start, end = offset(node.lineno, node.col_offset), offset(node.end_lineno, node.end_col_offset)
    return code[:start] + text(node) + code[end:]


def _expressions_below(node: ast.AST) -> list[ast.expr]:
    """The expressions right below `node` (through keywords, comprehensions, ...), in the order of the code; none
    inside an f-string, whose inner positions Python before 3.12 does not give."""
    if isinstance(node, ast.JoinedStr):
        return []
    found = []
    for child in ast.iter_child_nodes(node):
        found += [child] if isinstance(child, ast.expr) else _expressions_below(child)
    return sorted(found, key=lambda expr: (expr.lineno, expr.col_offset))


def _suggestion(code: str) -> str:
    """The whole code in backquotes, or only the op's name when it does not fit on one line: never cut."""
    if "\n" not in code and len(code) <= MAX_LINE:
        return f"`{code}`"
    return f"`{code.split('(', 1)[0]}(...)`"


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 40 else line.split("(", 1)[0] + "(...)"


def _numpy_default(dtype: str | None) -> str:
    return "float64" if dtype == "float" else "int64"


def _negative(node: ast.AST) -> bool:
    return any(isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub) for n in ast.walk(node))


def where(scope: TensorScope) -> str:
    """`in MyLayer.call`, for messages."""
    owner = scope.keras_class.name + "." if scope.keras_class else ""
    return f"in {owner}{getattr(scope.function, 'name', '<lambda>')}"
