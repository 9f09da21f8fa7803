"""The one value-flow analysis (gradfix/analysis/values.py, flow.py, program.py): kinds, dtypes and ranks per
program point, summaries across functions, and forward uses."""

from __future__ import annotations

import ast
import textwrap

import pytest

from gradfix.analysis import FileAnalysis, Kind, ProjectIndex


def analyse(code: str, index: ProjectIndex | None = None) -> FileAnalysis:
    return FileAnalysis.from_text(textwrap.dedent(code), index)


def forward_value(analysis: FileAnalysis, text: str, occurrence: int = 0):
    """The value of the `occurrence`-th expression written `text` in the forward path of the file's first class."""
    views = analysis.values.forward(analysis.keras_classes[0])
    nodes = sorted((n for view in views for n in ast.walk(view.function)
                    if isinstance(n, ast.expr) and analysis.segment(n) == text), key=lambda n: (n.lineno, n.col_offset))
    node = nodes[occurrence]
    return next(view for view in views if view.flow_of(node)).value(node), node, views


LAYER = """
    import numpy as np
    import tensorflow as tf
    from tensorflow.python.framework import tensor_shape

    class L(tf.keras.layers.Layer):
        def __init__(self, units=4, wide=False, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.wide = wide
            self.pool = (3,)

        def build(self, input_shape):
            if self.wide:
                self.kernel = self.add_weight(shape=(input_shape[-1], self.units))
            else:
                self.kernel = self.add_weight(shape=[input_shape[-1], 2 * self.units])
            self.cube = self.add_weight(shape=(*self.pool, 2, self.units))
            self.wide_kernel = self.add_weight(shape=(2, 2), dtype="float64")
            self.frozen = self.add_weight(shape=(2,), trainable=False)
            self.dense = tf.keras.layers.Dense(2)

        def call(self, inputs, training=None):
            h = np.ones((2,))
            first = h
            h = tf.matmul(inputs, self.kernel)
            second = h
            depth = tf.compat.dimension_value(inputs.shape[-1])
            dims = inputs.get_shape().as_list()
            width = tensor_shape.dimension_value(inputs.shape[1])
            pair = [0.5, -0.5]
            out = self._scale(h, self.units) + self.dense(h)
            print(np.mean(h))
            return out + self.frozen + self.cube + self.wide_kernel

        @staticmethod
        def _scale(x, size):
            return x / np.sqrt(size)
    """


def test_a_name_is_numpy_here_and_a_tensor_later():
    analysis = analyse(LAYER)
    first, _, _ = forward_value(analysis, "h", occurrence=1)
    assert first.kind is Kind.NUMPY and first.dtype == "float64" and first.rank == 1
    second, _, _ = forward_value(analysis, "h", occurrence=3)
    assert second.on_gradient_path and second.origins >= {"self.kernel", "inputs"}


def test_weights_have_their_dtype_and_rank_joined_over_build():
    analysis = analyse(LAYER)
    kernel, _, _ = forward_value(analysis, "self.kernel")
    assert (kernel.kind, kernel.dtype, kernel.rank, kernel.origins) == (
        Kind.GRADIENT, "float32", 2, frozenset({"self.kernel"}))
    assert forward_value(analysis, "self.cube")[0].rank == 3  # (*self.pool, 2, units) with pool = (3,)
    assert forward_value(analysis, "self.wide_kernel")[0].dtype == "float64"
    frozen = forward_value(analysis, "self.frozen")[0]
    assert frozen.kind is Kind.TENSOR and not frozen.on_gradient_path
    assert forward_value(analysis, "self.dense")[0].kind is Kind.LAYER


@pytest.mark.parametrize("text, dtype", [("depth", "int"), ("dims", "int"), ("width", "int")])
def test_shape_helpers_give_python_ints(text, dtype):
    value = forward_value(analyse(LAYER), text)[0]
    assert value.kind is Kind.PYTHON and value.dtype == dtype


def test_a_list_literal_of_numbers_is_rank_one():
    value = forward_value(analyse(LAYER), "[0.5, -0.5]")[0]
    assert (value.kind, value.rank, value.length) == (Kind.PYTHON, 1, 2)


def test_static_method_arguments_do_not_shift():
    analysis = analyse(LAYER)
    size = forward_value(analysis, "size")[0]
    x = forward_value(analysis, "x")[0]
    assert size.kind is Kind.PYTHON and x.on_gradient_path


def test_logging_leaves_the_gradient_path():
    analysis = analyse(LAYER)
    _, mean, views = forward_value(analysis, "np.mean(h)")
    _, scale, _ = forward_value(analysis, "self._scale(h, self.units)")
    view = next(v for v in views if v.flow_of(mean))
    assert not view.reaches_output(mean) and view.reaches_output(scale)


def test_uses_say_what_later_code_needs():
    analysis = analyse("""
        import numpy as np
        import tensorflow as tf

        class L(tf.keras.layers.Layer):
            def call(self, x):
                a = np.tanh(x)
                b = np.exp(x)
                c = np.square(x)
                a[a < 0] = 0.0
                return a.reshape(-1) + b.T + tf.reduce_sum(c)
        """)
    roles = {}
    for name in ("np.tanh(x)", "np.exp(x)", "np.square(x)"):
        _, node, views = forward_value(analysis, name)
        roles[name] = {(use.role, use.detail, use.accepts_tensor) for use in views[0].uses(node)}
    assert ("item-assignment", None, False) in roles["np.tanh(x)"]
    assert ("attribute", "reshape", False) in roles["np.tanh(x)"]
    assert roles["np.exp(x)"] == {("attribute", "T", False)}
    assert roles["np.square(x)"] == {("argument", "tensorflow.reduce_sum", True)}


def test_loops_reach_a_fixpoint_and_branches_join():
    analysis = analyse("""
        import numpy as np
        import tensorflow as tf

        class L(tf.keras.layers.Layer):
            def build(self, input_shape):
                self.w = self.add_weight(shape=(2, 2))

            def call(self, x):
                acc = np.zeros((2,))
                for _ in range(3):
                    before = acc
                    acc = acc + tf.matmul(x, self.w)
                if x.shape[0]:
                    y = 1.0
                else:
                    y = self.w
                return acc * y
        """)
    before = forward_value(analysis, "acc", occurrence=1)[0]
    assert before.kind is Kind.UNKNOWN and before.derived  # NumPy on the first pass, a tensor after
    after = forward_value(analysis, "acc", occurrence=4)[0]
    assert after.kind is Kind.UNKNOWN and "self.w" in after.derived
    joined = forward_value(analysis, "y", occurrence=2)[0]
    assert joined.kind is Kind.UNKNOWN and joined.derived == {"self.w"}


def test_helpers_nested_functions_mixins_and_sub_layer_loops_are_on_the_forward_path():
    analysis = analyse("""
        import numpy as np
        import tensorflow as tf

        def module_helper(t):
            return np.tanh(t)

        class Mixin:
            def mixed(self, t):
                return np.exp(t)

        class L(Mixin, tf.keras.layers.Layer):
            def __init__(self):
                super().__init__()
                self.blocks = [tf.keras.layers.Dense(2) for _ in range(2)]

            def call(self, x):
                def nested(t):
                    return np.sqrt(t)
                twice = lambda t: np.square(t)  # noqa: E731
                for block in self.blocks:
                    x = block(x)
                return module_helper(x) + self.mixed(x) + nested(x) + twice(x)
        """)
    views = analysis.values.forward(analysis.keras_classes[0])
    names = {getattr(view.function, "name", "<lambda>") for view in views}
    assert names == {"call", "module_helper", "mixed", "nested", "<lambda>"}
    for view in views:
        for call in view.calls():
            if analysis.segment(call).startswith("np."):
                assert view.value(call.args[0]).on_gradient_path, analysis.segment(call)
    block_output = forward_value(analysis, "block(x)")[0]
    assert block_output.origins >= {"self.blocks"}


def test_functions_handed_to_keras_are_found():
    analysis = analyse("""
        import numpy as np
        import tensorflow as tf

        def loss(y_true, y_pred):
            return np.mean(y_pred - y_true)

        layer = tf.keras.layers.Lambda(lambda t: np.tanh(t))
        model = tf.keras.Sequential([layer])
        model.compile("adam", loss=loss)
        model.add_loss(lambda: tf.reduce_sum(model.weights[0]))
        """)
    roles = sorted(role for _, role, _ in analysis.values.keras_function_roles())
    assert roles == ["add_loss", "lambda", "loss"]
    function = next(f for f, role, _ in analysis.values.keras_function_roles() if role == "loss")
    view = analysis.values.loss_flow(function)[0]
    params = view.flows[0].context.params
    assert params["y_true"].kind is Kind.TENSOR and params["y_pred"].on_gradient_path
    assert params["y_pred"].dtype == "float32"


def test_tape_flow_starts_at_the_sources():
    analysis = analyse("""
        import numpy as np
        import tensorflow as tf

        def step(model, teacher, x, y):
            with tf.GradientTape() as tape:
                target = teacher(x)
                preds = model(x)
                copy = preds.numpy()
                loss = tf.reduce_mean(tf.square(preds - target)) + np.mean(copy)
            return tape.gradient(loss, model.trainable_variables)
        """)
    tape = analysis.tapes[0]
    values = {analysis.segment(n): tape.value(n) for n in ast.walk(tape.node) if isinstance(n, ast.Name)}
    assert not values["target"].may_carry_gradient
    assert values["preds"].on_gradient_path and values["preds"].dtype == "float32"
    assert values["copy"].numpy_copy_of_gradient and not values["copy"].on_gradient_path
    assert tape.target_recorded


def test_expressions_too_deep_to_interpret_give_no_knowledge_rather_than_a_crash():
    terms = " + ".join(["x"] * 800)
    analysis = analyse(f"""
        import numpy as np
        import tensorflow as tf

        class Deep(tf.keras.layers.Layer):
            def call(self, x):
                y = {terms}
                return np.tanh(y)
        """)
    (scope,) = analysis.forward_scopes
    assert scope.calls() == []


# --- base classes in other files of the project --------------------------------------------------------------

BASE_FILE = """
import tensorflow as tf


class ProjectedBase(tf.keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform")

    def project(self, inputs):
        return tf.matmul(inputs, self.kernel)
"""
DERIVED_FILE = """
import numpy as np

from base import ProjectedBase


class Projected(ProjectedBase):
    def call(self, inputs):
        return np.tanh(self.project(inputs)) + np.dot(inputs, self.kernel)
"""


def test_weights_and_helpers_of_a_base_class_in_another_file_are_known_through_the_index():
    """The base's `build` declares the kernel's rank; its helper's result is on the gradient path. The helper runs
    in its own file's analysis: its calls are not the derived file's."""
    index = ProjectIndex.build([textwrap.dedent(BASE_FILE), textwrap.dedent(DERIVED_FILE)])
    assert "ProjectedBase" in index.sources
    analysis = analyse(DERIVED_FILE, index)
    kernel, _, _ = forward_value(analysis, "self.kernel")
    assert (kernel.kind, kernel.dtype, kernel.rank) == (Kind.GRADIENT, "float32", 2)
    projected, _, views = forward_value(analysis, "self.project(inputs)")
    assert projected.on_gradient_path and projected.dtype == "float32"
    assert all(call.lineno > 0 and analysis.segment(call) in DERIVED_FILE for view in views for call in view.calls())


def test_a_base_class_of_the_same_file_or_of_keras_is_not_kept_as_a_source():
    index = ProjectIndex.build([textwrap.dedent(BASE_FILE) + textwrap.dedent(DERIVED_FILE).replace(
        "from base import ProjectedBase", "")])
    assert index.sources == {}


def test_the_fast_replace_of_a_value_is_dataclasses_replace():
    import dataclasses

    from gradfix.analysis.values import Kind, Value, replace
    value = Value(Kind.GRADIENT, "float32", 2, frozenset({"self.w"}), derived=frozenset({"self.w"}))
    for changes in ({}, {"rank": None}, {"kind": Kind.NUMPY, "origins": frozenset()}, {"container": True}):
        made = replace(value, **changes)
        assert made == dataclasses.replace(value, **changes) and hash(made) == hash(dataclasses.replace(value, **changes))
    assert value.rank == 2, "the original is untouched"
    with pytest.raises(TypeError):
        replace(value, ranks=3)
