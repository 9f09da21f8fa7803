"""Finding + fix for a numpy call on tensors, shared by the rules that look for it in different places
(a layer's forward path, a loss function, a GradientTape block). One mapping table serves them all."""

from __future__ import annotations

import ast

from gradfix.analysis import FileAnalysis, TensorScope
from gradfix.deferred import LazyModule
from gradfix.numpy_to_tf import TranslationContext, translate
from gradfix.rules import Finding, Rule

cst = LazyModule("libcst")  # imported when a fix is built: gradfix/deferred.py

# numpy's converters are GF102's business (they are dropped, not translated).
CONVERTERS = frozenset({"asarray", "array", "asanyarray", "ascontiguousarray"})


def numpy_function(analysis: FileAnalysis, call: ast.Call) -> str | None:
    """`dot` for `np.dot(...)`, `linalg.norm` for `onp.linalg.norm(...)`; None if not a numpy call."""
    qualname = analysis.qualname(call.func)
    if qualname and qualname.startswith("numpy."):
        return qualname[len("numpy."):]
    return None


def numpy_calls_on_tensors(analysis: FileAnalysis, scope: TensorScope):
    """(call, function) for every numpy call in the scope that receives a tensor, converters excluded."""
    for call in scope.calls():
        function = numpy_function(analysis, call)
        if function and function not in CONVERTERS and not function.startswith("random.") \
                and scope.any_tensor_argument(call):
            yield call, function


def numpy_call_finding(rule: Rule, analysis: FileAnalysis, scope: TensorScope, call: ast.Call,
                       function: str, where: str) -> Finding:
    """Report `np.<function>(...)` found `where`, with the exact TF rewrite when the table has one."""
    ranks = {analysis.segment(arg): scope.rank_of(arg) for arg in call.args}
    context = TranslationContext(
        tf=analysis.tf_name,
        qualname=lambda expr: analysis.qualname(ast.parse(_code(expr), mode="eval").body),
        rank_of=lambda expr: ranks.get(_code(expr)),
    )
    translation = translate(function, analysis.cst_expression(call), context)
    message = f"np.{function}() on a tensor {where} returns a NumPy array: gradients stop here"
    if translation is None:
        return rule.finding(call, f"{message}; no TensorFlow equivalent is known, rewrite it with TF ops")
    if translation.replacement is None:
        return rule.finding(call, f"{message}; not rewritten: {translation.note}")
    replacement = cst.Module([]).code_for_node(translation.replacement)
    note = f" ({translation.note})" if translation.note else ""
    fix = rule.fix(analysis.replace(call, replacement), needs_tensorflow_import=not analysis.tensorflow_imported)
    return rule.finding(call, f"{message}; use `{_first_line(replacement)}`{note}", fix)


def _code(expr: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(expr)


def _first_line(code: str) -> str:
    line = code.splitlines()[0]
    return line if len(line) < 70 and line == code else line[:66] + " ..."


def where(scope: TensorScope) -> str:
    """`in MyLayer.call`, for messages."""
    owner = scope.keras_class.name + "." if scope.keras_class else ""
    return f"in {owner}{scope.function.name}"
