"""GF201–GF204, GF301, GF302 beyond the fixtures: the seed's examples, the initial-value translation
table, and the cases where a fix must be refused. No TensorFlow here."""

from __future__ import annotations

import ast
import textwrap

import pytest

from gradfix.codemods._variables import add_weight_rewrite, keras_namespace
from conftest import FIXTURES, fixed_text, run_on_text
from gradfix.analysis import FileAnalysis


def _diagnostics(text: str, **options):
    return [(d.code, d.line) for d in run_on_text(textwrap.dedent(text), **options).diagnostics]


# --- the seed document ---------------------------------------------------------------------------

def test_seed_example_3_gets_only_the_info_finding_at_the_freezing_line():
    text = (FIXTURES / "GF302" / "must_not_change" / "seed_example_3.py").read_text()
    freezing_line = next(i for i, line in enumerate(text.splitlines(), 1) if ".trainable = False" in line)
    report = run_on_text(text)
    assert [(d.code, d.line) for d in report.diagnostics] == [("GF302", freezing_line)]
    assert report.results[0].fixed is None
    message = report.diagnostics[0].message
    assert "will train them" in message and "compile()" in message


def test_seed_example_2_is_left_alone_it_returns_every_trainable_parameter():
    text = (FIXTURES / "GF301" / "must_not_change" / "seed_example_2.py").read_text()
    report = run_on_text(text)
    assert report.diagnostics == [] and report.results[0].fixed is None


# --- GF201: initial value → add_weight arguments --------------------------------------------------

def _rewrite(statement: str, header: str = "import numpy as np\nimport tensorflow as tf\n") -> str | None:
    text = header + textwrap.dedent(f"""
        class L(tf.keras.layers.Layer):
            def build(self, input_shape):
                {statement}
        """)
    analysis = FileAnalysis.from_text(text)
    method = analysis.keras_classes[0].methods["build"]
    assign = method.body[0]
    rewrite = add_weight_rewrite(analysis, assign, method, analysis.keras_classes[0],
                                 keras_namespace(analysis, analysis.keras_classes[0].node))
    return rewrite.text


@pytest.mark.parametrize("statement, expected", [
    ("self.w = tf.Variable(tf.zeros((3, 4)))", 'self.w = self.add_weight(shape=(3, 4), initializer="zeros")'),
    ("self.w = tf.Variable(tf.ones(5), trainable=False)",
     'self.w = self.add_weight(shape=(5,), initializer="ones", trainable=False)'),
    ("self.w = tf.Variable(tf.zeros([2], dtype=tf.float64))",
     'self.w = self.add_weight(shape=[2], initializer="zeros", dtype="float64")'),
    # tf.random.normal's stddev is 1.0, RandomNormal's default 0.05: the default is written out.
    ("self.w = tf.Variable(tf.random.normal((2, 2)))",
     "self.w = self.add_weight(shape=(2, 2), initializer=tf.keras.initializers.RandomNormal(stddev=1.0))"),
    ("self.w = tf.Variable(tf.random.truncated_normal([2], 0.5, 2.0, seed=1))",
     "self.w = self.add_weight(shape=[2], initializer=tf.keras.initializers.TruncatedNormal(mean=0.5, stddev=2.0, "
     "seed=1))"),
    ("self.w = tf.Variable(tf.random.uniform([2]))",
     "self.w = self.add_weight(shape=[2], initializer=tf.keras.initializers.RandomUniform(minval=0.0, maxval=1.0))"),
    ("self.w = tf.Variable(tf.keras.initializers.GlorotUniform(seed=2)([3, 3]))",
     "self.w = self.add_weight(shape=[3, 3], initializer=tf.keras.initializers.GlorotUniform(seed=2))"),
    ("self.w = tf.Variable(0.5, name='w')",
     "self.w = self.add_weight(shape=(), initializer=tf.keras.initializers.Constant(0.5), name='w')"),
    ("self.w = tf.Variable(3)",  # tf.Variable(3) is an int32 variable
     'self.w = self.add_weight(shape=(), initializer=tf.keras.initializers.Constant(3), dtype="int32")'),
    ("self.w = tf.Variable(np.float64(0.5))",
     'self.w = self.add_weight(shape=(), initializer=tf.keras.initializers.Constant(np.float64(0.5)), '
     'dtype="float64")'),
    ("self.w = tf.Variable(np.random.randn(2, 3))",  # float64, like the NumPy array
     'self.w = self.add_weight(shape=(2, 3), initializer=tf.keras.initializers.Constant(np.random.randn(2, 3)), '
     'dtype="float64")'),
    ("self.w = tf.Variable(np.ones((2,)))", 'self.w = self.add_weight(shape=(2,), initializer="ones", dtype="float64")'),
    ("self.w = tf.Variable(np.ones((2,)), dtype=tf.float32)",
     'self.w = self.add_weight(shape=(2,), initializer="ones", dtype="float32")'),
    ("self.w = tf.Variable(tf.random.uniform([2], maxval=10, dtype=tf.int32))",  # not a float: computed
     "initial_w = tf.convert_to_tensor(tf.random.uniform([2], maxval=10, dtype=tf.int32))\n"
     "self.w = self.add_weight(shape=initial_w.shape, initializer=tf.keras.initializers.Constant(initial_w), "
     "dtype=initial_w.dtype)"),
])
def test_initial_value_translation(statement, expected):
    text = _rewrite(statement)
    assert text is not None
    statements = "\n".join(line.strip() for line in text.splitlines())  # the rewrite's text is indented
    assert ast.dump(ast.parse(statements)) == ast.dump(ast.parse(expected))  # line breaks aside


@pytest.mark.parametrize("statement", [
    "self.w = tf.Variable(tf.zeros(3), validate_shape=False)",
    "self.w = tf.Variable(tf.zeros(3), shape=tf.TensorShape(None))",
    "self.w = tf.Variable(tf.zeros(3), synchronization=tf.VariableSynchronization.ON_READ)",
    "self.w = tf.Variable(tf.zeros(3), True, True, None, 'w')",
    "self.w = tf.Variable(**options)",
    "self.w = tf.Variable(lambda: tf.zeros(3))",
    "self.w = tf.Variable(tf.zeros(3), name='block/w')",
])
def test_variables_add_weight_cannot_express_are_refused(statement):
    assert _rewrite(statement) is None


@pytest.mark.parametrize("header, namespace", [
    ("import tensorflow as tf\n", "tf.keras"),
    ("import tensorflow as tf\nfrom tensorflow import keras\n", "keras"),
    ("import tensorflow as tf\nimport keras\n", "keras"),
])
def test_initializers_are_spelled_like_the_file(header, namespace):
    assert f"{namespace}.initializers.Constant(0.5)" in _rewrite("self.w = tf.Variable(0.5)", header)


def test_add_weight_is_not_written_before_super_init():
    text = """\
        import tensorflow as tf

        class L(tf.keras.layers.Layer):
            def __init__(self):
                self.w = tf.Variable(1.0)
                super().__init__()
        """
    assert fixed_text(textwrap.dedent(text)) == textwrap.dedent(text)
    assert _diagnostics(text) == [("GF201", 5)]


# --- GF204 ------------------------------------------------------------------------------------------

def test_alias_used_in_a_nested_function_is_reported_not_rewritten():
    text = """\
        import tensorflow as tf

        class Stack(tf.keras.Model):
            def __init__(self):
                super().__init__()
                blocks = []
                self.blocks = blocks
                blocks.append(tf.keras.layers.Dense(2))
                self.count = lambda: len(blocks)
        """
    assert fixed_text(textwrap.dedent(text)) == textwrap.dedent(text)
    assert _diagnostics(text) == [("GF204", 7)]


# --- GF301 ------------------------------------------------------------------------------------------

def test_override_adding_a_bare_variable_is_fixed_whole_when_only_gf301_is_selected():
    """The variable's own line changes too; GF301 reports it as well, so the fix is not cut in half by the
    engine's check that changed lines lie in a reported node."""
    before = (FIXTURES / "GF301" / "super_plus_bare_variable.py").read_text()
    expected = (FIXTURES / "GF301" / "super_plus_bare_variable.expected.py").read_text()
    report = run_on_text(before, select=["GF301"])
    assert not report.errors
    assert report.results[0].fixed.text == expected


@pytest.mark.parametrize("override, reported, safe, unsafe", [
    ("return super().trainable_weights + [self.frozen]", True, False, True),  # adds a non-trainable weight
    ("return self.dense.variables", True, False, True),  # a different collection than its name says
    ("return [w for w in super().trainable_weights if 'bias' not in w.name]", True, False, True),
    ("return self.dense.trainable_weights", False, False, False),  # self.frozen is not trainable: equal
    ("return []", True, True, True),  # leaves out the dense layer `call` uses
])
def test_an_override_is_reported_only_when_it_differs_from_what_keras_trains(override, reported, safe, unsafe):
    text = f"""\
        import tensorflow as tf

        class L(tf.keras.layers.Layer):
            def __init__(self):
                super().__init__()
                self.dense = tf.keras.layers.Dense(2)
                self.frozen = self.add_weight(shape=(2,), trainable=False)

            def call(self, x):
                return self.dense(x) * self.frozen

            @property
            def trainable_weights(self):
                {override}
        """
    source = textwrap.dedent(text)
    assert (fixed_text(source) != source) is safe
    assert (fixed_text(source, unsafe_fixes=True) != source) is unsafe
    assert [code for code, _ in _diagnostics(text)] == (["GF301"] if reported else [])


def test_an_override_leaving_out_a_sublayer_call_does_not_use_is_deleted_only_as_an_unsafe_fix():
    text = textwrap.dedent("""\
        import tensorflow as tf

        class Net(tf.keras.Model):
            def __init__(self):
                super().__init__()
                self.head = tf.keras.layers.Dense(2)
                self.auxiliary = tf.keras.layers.Dense(2)

            def call(self, x):
                return self.head(x)

            @property
            def trainable_variables(self):
                return self.head.trainable_variables
        """)
    assert fixed_text(text) == text
    assert "def trainable_variables" not in fixed_text(text, unsafe_fixes=True)


def test_a_list_attribute_filled_elsewhere_is_not_called_never_filled():
    text = textwrap.dedent("""\
        import tensorflow as tf

        class L(tf.keras.layers.Layer):
            def __init__(self):
                super().__init__()
                self._params = []

            def build(self, input_shape):
                self._params.append(self.add_weight(shape=(input_shape[-1],)))

            def call(self, x):
                return x * self._params[0]

            @property
            def trainable_weights(self):
                return self._params
        """)
    assert fixed_text(text) == text
    assert "cannot follow" in run_on_text(text).diagnostics[0].message


# --- which Keras ------------------------------------------------------------------------------------

def test_keras_taken_from_the_project_is_left_alone(tmp_path):
    """transformers re-exports tf_keras as `keras` from its own module: bare tf.Variables are tracked there, so
    the code is correct, even when the run also holds a Keras whose class names make its layers recognisable."""
    from pathlib import Path

    from gradfix.config import Config
    from gradfix.runner import RunOptions, run
    from gradfix.source import SourceText

    keras_like = "import keras\n\nclass Conv1D(keras.layers.Layer):\n    pass\n"
    model = textwrap.dedent("""\
        import tensorflow as tf
        from .modeling_tf_utils import keras

        class WeightNormConv1D(keras.layers.Conv1D):
            def build(self, input_shape):
                super().build(input_shape)
                self.kernel = tf.Variable(tf.transpose(self.kernel), name="weight_v", trainable=True)
        """)
    sources = {Path("layers/conv.py"): SourceText(keras_like), Path("models/model.py"): SourceText(model)}
    report = run(list(sources), RunOptions(jobs=1, fix=True), Config(), sources=sources)
    assert not report.errors and not any(r.fixed for r in report.results)
    assert [d.code for d in report.diagnostics] == []


# --- issue 13: GF303, GF205, switched-on frozen variables --------------------------------------------

def test_gf303_leaves_pass_when_the_assignment_was_alone_in_its_block():
    text = textwrap.dedent("""\
        import tensorflow as tf

        class L(tf.keras.layers.Layer):
            def build(self, input_shape):
                self.w = self.add_weight(shape=(input_shape[-1],))
                if self.trainable:
                    self.trainable_weights = [self.w]

            def call(self, x):
                return x * self.w
        """)
    after = fixed_text(text)
    assert "        if self.trainable:\n            pass\n" in after and "trainable_weights" not in after


def test_gf303_reports_an_augmented_assignment_without_fixing_it():
    text = """\
        import tensorflow as tf

        class L(tf.keras.layers.Layer):
            def build(self, input_shape):
                self.w = self.add_weight(shape=(input_shape[-1],))
                self.trainable_weights += [self.w]

            def call(self, x):
                return x * self.w
        """
    assert _diagnostics(text) == [("GF303", 6)]
    assert fixed_text(textwrap.dedent(text)) == textwrap.dedent(text)


@pytest.mark.parametrize("derivation, reason", [
    ("self.kernel = self.mu + self.sigma * tf.random.normal(\n            (3,))", "one-line"),
    ("self.kernel = self.mu * scale", "local to `build`"),
])
def test_gf205_reports_derivations_it_cannot_move(derivation, reason):
    text = textwrap.dedent("""\
        import tensorflow as tf

        class L(tf.keras.layers.Layer):
            def build(self, input_shape):
                scale = 2.0
                self.mu = self.add_weight(shape=(3,))
                self.sigma = self.add_weight(shape=(3,))
                DERIVATION

            def call(self, x):
                return x * self.kernel
        """).replace("DERIVATION", derivation)
    report = run_on_text(text)
    assert [d.code for d in report.diagnostics] == ["GF205"] and reason in report.diagnostics[0].message
    assert report.results[0].fixed is None


def test_gf205_does_not_move_a_derivation_other_methods_read():
    text = textwrap.dedent("""\
        import tensorflow as tf

        class L(tf.keras.layers.Layer):
            def build(self, input_shape):
                self.mu = self.add_weight(shape=(3,))
                self.kernel = tf.exp(self.mu)

            def call(self, x):
                return x * self.kernel

            def get_kernel(self):
                return self.kernel
        """)
    assert fixed_text(text) == text and "outside `call`" in run_on_text(text).diagnostics[0].message


def test_a_frozen_variable_switched_on_in_a_tf_keras_file_is_left_alone():
    """tf_keras tracks it, and a tf_keras weight is a tf.Variable whose flag cannot be switched either."""
    text = """\
        import tensorflow as tf
        import tf_keras

        class L(tf_keras.layers.Layer):
            def __init__(self):
                super().__init__()
                self.t = tf.Variable(1.0, trainable=False)

            def call(self, x):
                return x / self.t

        layer = L()
        layer.t.trainable = True
        """
    assert _diagnostics(text) == []


@pytest.mark.parametrize("members", [
    "@property\n    def trainable_weights(self):\n        return []",
    "@property\n    def trainable_weights(self):\n        return self._w\n\n"
    "    @trainable_weights.setter\n    def trainable_weights(self, value):\n        self._w = value",
])
def test_gf301_offers_no_deletion_that_would_break_the_class(members):
    text = "import tensorflow as tf\n\n\nclass L(tf.keras.layers.Layer):\n    " + members + "\n"
    report = run_on_text(text, unsafe_fixes=True)
    assert [d.code for d in report.diagnostics] == ["GF301"] and report.results[0].fixed is None


def test_gf301_compares_named_sublayers_gathered_with_logic_around_them():
    text = textwrap.dedent("""\
        import tensorflow as tf

        class Net(tf.keras.Model):
            def __init__(self):
                super().__init__()
                self.encoder = tf.keras.layers.Dense(4)
                self.head = tf.keras.layers.Dense(2)

            def call(self, x):
                return self.head(self.encoder(x))

            @property
            def trainable_variables(self):
                variables = self.head.trainable_variables
                return variables
        """)
    assert "def trainable_variables" not in fixed_text(text)
