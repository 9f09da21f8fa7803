"""Which expressions hold tensors (DESIGN.md §2), so numpy on plain Python values is never touched.

Tensor values: parameters of forward methods (not flags such as `training`/`mask`), weights and tensors
stored on `self`, results of `tf.*`/`keras.ops.*`/layer calls, and anything computed from those —
including numpy results computed from tensors, so that a chain of numpy calls is followed. Shapes,
dtypes, config attributes and literals are not tensors. Unknown callables give non-tensors: when unsure,
we stay silent rather than rewrite correct code.
"""

from __future__ import annotations

import ast
from functools import cached_property
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from gradfix.analysis.classes import KerasClass
    from gradfix.analysis.imports import ImportMap

FLAG_PARAMS = frozenset({"self", "cls", "training", "mask", "return_dict", "output_attentions",
                         "output_hidden_states", "use_cache", "deterministic", "verbose", "kwargs"})
SHAPE_ATTRS = frozenset({"shape", "dtype", "ndim", "name", "device", "trainable", "built", "rank",
                         "graph", "op", "size"})
NON_TENSOR_METHODS = frozenset({"get_shape", "get_config", "as_list", "count_params"})
NON_TENSOR_FUNCTIONS = frozenset({
    "tensorflow.shape", "tensorflow.rank", "tensorflow.size", "tensorflow.TensorShape",
    "tensorflow.executing_eagerly", "tensorflow.is_tensor", "tensorflow.get_static_value",
    "keras.backend.int_shape", "keras.backend.floatx", "keras.backend.epsilon",
    "keras.backend.image_data_format", "keras.backend.ndim", "keras.backend.is_keras_tensor",
    "keras.ops.shape", "keras.ops.ndim", "keras.ops.is_tensor", "keras.utils.is_keras_tensor",
    "tensorflow.compat.dimension_value", "tensorflow.compat.dimension_at_index", "tensorflow.Dimension",
    "tensorflow.inside_function", "tensorflow.get_logger", "tensorflow.name_scope",
    "keras.ops.convert_to_numpy", "keras.backend.convert_to_numpy",
})
# Words in an `if` test that show deliberate dispatch on the kind of value or backend (`isinstance(x,
# np.ndarray)`, `tf.executing_eagerly()`, `backend.backend() != "tensorflow"`): numpy there is intended.
DISPATCH_WORDS = ("isinstance", "is_tensor", "backend", "eager", "torch", "jax", "ndarray", "in_tf_graph",
                  "inside_function", "numpy", "hasattr", "type")
TENSOR_CLASSES = frozenset({"tensorflow.Variable", "keras.Variable", "keras.backend.Variable",
                            "tensorflow.RaggedTensor", "tensorflow.SparseTensor"})


def is_self(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "self"


def is_super_call(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"


def assigned_names(target: ast.AST) -> Iterable[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from assigned_names(element)
    elif isinstance(target, ast.Starred):
        yield from assigned_names(target.value)


def tensor_params(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Parameters that carry tensors: not flags, and not defaulted to a bool/number/string literal."""
    args = function.args
    positional = args.posonlyargs + args.args
    defaults = dict(zip([a.arg for a in positional][len(positional) - len(args.defaults):], args.defaults))
    defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
    names = set()
    for arg in positional + args.kwonlyargs + [a for a in (args.vararg,) if a]:
        default = defaults.get(arg.arg)
        literal_flag = isinstance(default, ast.Constant) and default.value is not None
        if arg.arg not in FLAG_PARAMS and "mask" not in arg.arg and not literal_flag:
            names.add(arg.arg)
    return names


def dispatched_nodes(nodes: list[ast.AST]) -> set[int]:
    """ids of nodes inside both branches of an `if`/conditional expression whose test dispatches on the
    kind of value or backend: such code handles numpy on purpose."""
    inside: set[int] = set()
    for node in nodes:
        if isinstance(node, (ast.If, ast.IfExp)) and _mentions_dispatch(node.test):
            branches = [node.body, node.orelse] if isinstance(node, ast.IfExp) else node.body + node.orelse
            for branch in branches:
                inside.update(id(n) for n in ast.walk(branch))
    return inside


def _mentions_dispatch(test: ast.AST) -> bool:
    for node in ast.walk(test):
        word = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) \
            else node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None
        if word and any(marker in word.lower() for marker in DISPATCH_WORDS):
            return True
    return False


class TensorScope:
    """Tensor-valued names of one function (flow-insensitive, nested blocks included)."""

    def __init__(self, function: ast.FunctionDef | ast.AsyncFunctionDef, imports: "ImportMap",
                 keras_class: "KerasClass | None" = None, seeds: set[str] | None = None):
        self.function = function
        self.imports = imports
        self.keras_class = keras_class
        self.names: set[str] = set(tensor_params(function) if seeds is None else seeds)
        self.nodes = list(ast.walk(function))
        self.dispatched = dispatched_nodes(self.nodes)
        self._propagate()

    def _propagate(self) -> None:
        bindings = [n for n in self.nodes if id(n) not in self.dispatched and isinstance(
            n, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor, ast.NamedExpr, ast.comprehension))]
        while True:
            before = len(self.names)
            for node in bindings:
                value = node.iter if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)) else node.value
                if value is None or not self.is_tensor(value):
                    continue
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    self.names.update(assigned_names(target))
            if len(self.names) == before:
                return

    @cached_property
    def parents(self) -> dict[int, ast.AST]:
        """id(node) -> its parent, for rules that need the context of an expression."""
        return {id(child): node for node in self.nodes for child in ast.iter_child_nodes(node)}

    def parent(self, node: ast.AST) -> ast.AST | None:
        return self.parents.get(id(node))

    def is_iterated(self, node: ast.AST) -> bool:
        """Is the value looped over in Python (`for x in t.numpy()`): element-wise Python processing."""
        parent = self.parent(node)
        return isinstance(parent, (ast.For, ast.AsyncFor, ast.comprehension)) and parent.iter is node

    def is_used_in_arithmetic(self, node: ast.AST) -> bool:
        """Does the value take part in arithmetic, directly or through the name it is assigned to?"""
        parent = self.parent(node)
        if isinstance(parent, (ast.BinOp, ast.UnaryOp)):
            return True
        if isinstance(parent, ast.Assign):
            names = {n for target in parent.targets for n in assigned_names(target)}
            return any(isinstance(n, ast.BinOp) and any(isinstance(side, ast.Name) and side.id in names
                                                        for side in (n.left, n.right)) for n in self.nodes)
        return False

    def calls(self) -> Iterable[ast.Call]:
        """Calls of the function, except those in branches that dispatch on the kind of value/backend."""
        return (n for n in self.nodes if isinstance(n, ast.Call) and id(n) not in self.dispatched)

    def is_tensor(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Name):
            return node.id in self.names
        if isinstance(node, ast.Attribute):
            if is_self(node.value):
                return bool(self.keras_class) and node.attr in self.keras_class.tensor_attrs
            return node.attr not in SHAPE_ATTRS and self.is_tensor(node.value)
        if isinstance(node, ast.Call):
            return self._call_is_tensor(node)
        if isinstance(node, (ast.Subscript, ast.Starred, ast.NamedExpr)):
            return self.is_tensor(node.value)
        if isinstance(node, ast.BinOp):
            return self.is_tensor(node.left) or self.is_tensor(node.right)
        if isinstance(node, ast.UnaryOp):
            return self.is_tensor(node.operand)
        if isinstance(node, ast.IfExp):
            return self.is_tensor(node.body) or self.is_tensor(node.orelse)
        if isinstance(node, (ast.Tuple, ast.List)):
            return any(map(self.is_tensor, node.elts))
        return False

    def _call_is_tensor(self, call: ast.Call) -> bool:
        qualname = self.imports.qualname(call.func)
        if qualname:
            if qualname.startswith("numpy."):
                return self.any_tensor_argument(call)
            if qualname.startswith(("tensorflow.", "keras.")):
                if qualname in NON_TENSOR_FUNCTIONS:
                    return False
                if qualname.rsplit(".", 1)[-1][:1].isupper():
                    return qualname in TENSOR_CLASSES
                return True
            return False
        func = call.func
        if not isinstance(func, ast.Attribute):
            return False
        if is_self(func.value):
            return bool(self.keras_class) and (
                func.attr in self.keras_class.layer_attrs
                or func.attr in self.keras_class.forward_method_names
                or func.attr == "add_weight")
        if is_super_call(func.value):
            return func.attr in ("call", "__call__")
        return func.attr not in NON_TENSOR_METHODS and self.is_tensor(func.value)

    def rank_of(self, node: ast.AST) -> int | None:
        """Static rank when evident: a weight made with a literal shape (through `.numpy()`/`.value`)."""
        while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and not node.args \
                and node.func.attr in ("numpy", "value", "read_value"):
            node = node.func.value
        if isinstance(node, ast.Attribute) and is_self(node.value) and self.keras_class:
            return self.keras_class.weight_rank(node.attr)
        return None

    def any_tensor_argument(self, call: ast.Call) -> bool:
        return any(self.is_tensor(a) for a in call.args) or any(self.is_tensor(k.value) for k in call.keywords)
