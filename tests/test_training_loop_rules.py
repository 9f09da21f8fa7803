"""Static tests of the tape analysis and the training-loop rules (GF103, GF401-GF404, GF501) beyond the
fixtures: what is resolved, what is only reported, and what the fixes keep (line endings, indentation)."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap

import pytest

from conftest import FIXTURES, ROOT, fixed_text, run_on_text
from gradfix.analysis import FileAnalysis


def analyse(code: str) -> FileAnalysis:
    return FileAnalysis.from_text(textwrap.dedent(code))


def findings(code: str, select: str, **options) -> list:
    report = run_on_text(textwrap.dedent(code), select=[select], **options)
    assert not report.errors, report.errors
    return report.diagnostics


def first_call(analysis: FileAnalysis, text: str) -> ast.Call:
    return next(n for n in ast.walk(analysis.tree) if isinstance(n, ast.Call) and analysis.segment(n) == text)


# --- the tape analysis ---------------------------------------------------------------------------------

def test_tapes_are_found_in_every_spelling():
    analysis = analyse("""
        import tensorflow as tf
        from tensorflow import GradientTape

        def f(x, model):
            with tf.GradientTape(persistent=True) as outer, open("log") as log:
                with GradientTape() as inner:
                    y = model(x)
            tape = tf.GradientTape(watch_accessed_variables=False)
            with tape:
                z = model(x)
            return outer.gradient(y, x), inner.gradient(y, x), tape.gradient(z, x)
        """)
    tapes = {tape.name: tape for tape in analysis.tapes}
    assert sorted(tapes) == ["inner", "outer", "tape"]
    assert tapes["outer"].persistent and not tapes["inner"].persistent
    assert all(len(tape.requests) == 1 for tape in tapes.values())


@pytest.mark.parametrize("sources, owners, values", [
    ("model.trainable_variables", {"model"}, set()),
    ("[w, self.kernel]", {"w", "self.kernel"}, {"w", "self.kernel"}),
    ("variables", {"variables"}, {"variables"}),  # a parameter: the variables themselves
    ("collected", {"encoder", "head"}, set()),
    ("model.trainable_variables[:2]", {"model"}, set()),
    ("get_variables()", None, set()),
])
def test_sources_are_resolved_to_owners(sources, owners, values):
    analysis = analyse(f"""
        import tensorflow as tf

        def step(self, model, encoder, head, w, variables, x):
            collected = encoder.trainable_weights + head.trainable_weights
            with tf.GradientTape() as tape:
                loss = model(x)
            return tape.gradient(loss, {sources})
        """)
    tape = analysis.tapes[0]
    assert tape.owners == (None if owners is None else frozenset(owners))
    assert tape.source_values == frozenset(values)


def test_optimizer_minimize_with_a_tape_is_a_gradient_request():
    analysis = analyse("""
        import tensorflow as tf

        def train_step(self, x, y):
            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compiled_loss(y, y_pred)
            self.optimizer.minimize(loss, self.trainable_variables, tape=tape)
        """)
    tape = analysis.tapes[0]
    assert tape.owners == frozenset({"self"})
    assert tape.on_gradient_path(first_call(analysis, "self(x, training=True)"))


def test_only_values_from_the_sources_that_reach_the_target_are_on_the_gradient_path():
    analysis = analyse("""
        import numpy as np
        import tensorflow as tf

        def step(model, teacher, x, y):
            with tf.GradientTape() as tape:
                soft = teacher(x)
                logits = model(x)
                labels = np.eye(10)[y]
                accuracy = tf.reduce_mean(tf.cast(tf.argmax(logits, -1) == y, tf.float32))
                losses = []
                losses.append(tf.reduce_mean((logits - labels) ** 2 + soft))
                loss = tf.add_n(losses)
            return tape.gradient(loss, model.trainable_variables)
        """)
    tape = analysis.tapes[0]
    on_path = {text: tape.on_gradient_path(first_call(analysis, text))
               for text in ("teacher(x)", "model(x)", "np.eye(10)", "tf.argmax(logits, -1)", "tf.add_n(losses)")}
    assert on_path == {"teacher(x)": False, "model(x)": True, "np.eye(10)": False, "tf.argmax(logits, -1)": False,
                       "tf.add_n(losses)": True}


# --- GF401 ---------------------------------------------------------------------------------------------

PREDICT_LOOP = """
    import tensorflow as tf

    def step(model, x, y, optimizer):
        with tf.GradientTape() as tape:
            predictions = {predict}
            loss = tf.reduce_mean(tf.square(predictions - y))
        grads = tape.gradient(loss, {sources})
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
    """


@pytest.mark.parametrize("predict, sources, fixed", [
    ("model.predict(x, 32, 0)", "model.trainable_variables", "model(x, training=True)"),
    ("model.predict_on_batch(x)", "model.trainable_weights", "model(x, training=True)"),
    ("model.predict(x, steps=2)", "model.trainable_variables", None),  # steps: not one forward pass
    ("model.predict(x)", "get_variables(model)", None),  # unknown sources: reported, not rewritten
])
def test_predict_is_rewritten_only_when_it_is_one_forward_pass_of_the_differentiated_model(predict, sources, fixed):
    code = PREDICT_LOOP.format(predict=predict, sources=sources)
    reported = findings(code, "GF401")
    assert [d.code for d in reported] == ["GF401"]
    after = fixed_text(textwrap.dedent(code), select=["GF401"])
    assert (f"predictions = {fixed}" if fixed else f"predictions = {predict}") in after


# --- GF402 ---------------------------------------------------------------------------------------------

def test_numpy_in_nested_tapes_is_reported_once():
    code = """
        import tensorflow as tf

        def hessian_step(model, x):
            with tf.GradientTape() as outer:
                with tf.GradientTape() as inner:
                    y = model(x).numpy()
                g = inner.gradient(y, model.trainable_variables)
            return outer.gradient(g, model.trainable_variables), y
        """
    assert [d.code for d in findings(code, "GF402")] == ["GF402"]


def test_numpy_copy_beside_a_tensorflow_route_to_the_loss_is_reported_once_and_not_rewritten():
    """`weights` from `.numpy()` may be a constant on purpose: the loss still trains the model through `preds`."""
    code = """
        import numpy as np
        import tensorflow as tf

        def step(model, x, y):
            with tf.GradientTape() as tape:
                preds = model(x, training=True)
                weights = np.exp(-np.abs(preds.numpy() - y))
                loss = tf.reduce_mean(weights * tf.square(preds - y))
            return tape.gradient(loss, model.trainable_variables)
        """
    reported = findings(code, "GF402")
    assert len(reported) == 1 and reported[0].fix_safety is None and "stop_gradient" in reported[0].message
    assert fixed_text(textwrap.dedent(code)) == textwrap.dedent(code)


# --- GF403 ---------------------------------------------------------------------------------------------

MOVED = """
    import tensorflow as tf

    def step(model, x, y):
        {statement}
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(predictions - y))
        return tape.gradient(loss, model.trainable_variables)
    """


@pytest.mark.parametrize("statement, moved", [
    ("predictions = model(x, training=True)  # forward", True),
    ('predictions = model(x, training=True); print("""done""")', False),  # shares its line
    ('predictions = model(x, name="""a\n        b""")', False),  # moving would re-indent a string
])
def test_forward_pass_is_moved_only_when_it_owns_its_lines(statement, moved):
    code = textwrap.dedent(MOVED).format(statement=statement)
    report = run_on_text(code, select=["GF403"], unsafe_fixes=True)
    assert [d.code for d in report.diagnostics] == ["GF403"]
    after = report.results[0].fixed.text if report.results[0].fixed else code
    assert ("    with tf.GradientTape() as tape:\n        predictions = model" in after) is moved


def test_safe_apply_does_not_move_statements():
    code = textwrap.dedent(MOVED).format(statement="predictions = model(x, training=True)")
    assert fixed_text(code, select=["GF403"]) == code


def test_gradient_of_an_expression_computed_after_the_tape_is_reported():
    code = """
        import tensorflow as tf

        def step(model, x):
            with tf.GradientTape() as tape:
                losses = model(x)
            return tape.gradient(tf.reduce_mean(losses), model.trainable_variables)
        """
    reported = findings(code, "GF403")
    assert [d.code for d in reported] == ["GF403"] and "tf.reduce_mean(losses)" in reported[0].message


# --- GF404 ---------------------------------------------------------------------------------------------

def test_watch_keeps_the_blocks_line_endings():
    code = ("import tensorflow as tf\r\nx = tf.constant(2.0)\r\nwith tf.GradientTape() as tape:\r\n"
            "    y = x * x\r\nprint(tape.gradient(y, x))\r\n")
    assert fixed_text(code, select=["GF404"]) == code.replace("as tape:\r\n", "as tape:\r\n    tape.watch(x)\r\n")


@pytest.mark.parametrize("code, fixable", [
    ("x = tf.constant(2.0)\nwith tf.GradientTape() as tape: y = x * x\ng = tape.gradient(y, x)\n", False),
    ("x = tf.constant([1, 2])\nwith tf.GradientTape() as tape:\n    y = x * x\ng = tape.gradient(y, x)\n", None),
    ("x = tf.range(3)\nwith tf.GradientTape() as tape:\n    y = x * x\ng = tape.gradient(y, x)\n", None),
    ("x = tf.Variable(2.0)\nwith tf.GradientTape() as tape:\n    y = x * x\ng = tape.gradient(y, x)\n", None),
    ("x = tf.constant(2.0)\nwith tf.GradientTape() as tape:\n    y = 3.0\ng = tape.gradient(y, x)\n", None),
    ("x = tf.zeros((2,))\nwith tf.GradientTape() as tape:\n    y = x * x\ng = tape.gradient(y, x)\n", True),
])
def test_only_float_tensors_read_in_the_block_are_watched(code, fixable):
    """None: not reported (integers, variables, unused); False: reported without a fix; True: fixed."""
    code = "import tensorflow as tf\n" + code
    reported = findings(code, "GF404")
    assert bool(reported) is (fixable is not None)
    if reported:
        assert (fixed_text(code, select=["GF404"]) != code) is fixable


# --- GF103 ---------------------------------------------------------------------------------------------

def test_numpy_in_strings_metrics_and_unknown_functions_is_left_alone():
    code = """
        import re
        import numpy as np
        import tensorflow as tf
        from losses import external_loss

        def not_given_to_compile(a, b):
            return np.mean(a - b)

        pattern = re.compile("x+", not_given_to_compile)

        model = tf.keras.Sequential([tf.keras.layers.Dense(1)])
        model.compile("adam", loss="mse", metrics=["mae", external_loss, tf.keras.metrics.AUC()])
        """
    assert findings(code, "GF103") == []


# --- GF501 ---------------------------------------------------------------------------------------------

LAYER = """
    import tensorflow as tf
    import keras

    class Block(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.gate = keras.layers.Dense(4)
            self.dense = keras.layers.Dense(4)

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(4, 4))

        def call(self, x):
            {body}
    """


@pytest.mark.parametrize("body, op, lost", [
    ("return x * tf.round(tf.sigmoid(self.gate(x)))", "tf.round", "self.gate"),
    ("return tf.cast(tf.matmul(x, self.kernel), tf.int32)", "tf.cast", "self.kernel"),
    ("return keras.ops.argmax(self.dense(x), axis=-1)", "keras.ops.argmax", "self.dense"),
    ("h = self.dense(x)\n            return tf.math.floor(h) + x", "tf.math.floor", "self.dense"),
    ("return tf.py_function(lambda t: t, [self.dense(x)], tf.float32)", "tf.py_function", "self.dense"),
    ("return tf.stop_gradient(self.dense(x))", "tf.stop_gradient", "self.dense"),
])
def test_non_differentiable_op_between_weights_and_output_is_reported(body, op, lost):
    reported = findings(LAYER.format(body=body), "GF501")
    assert len(reported) == 1
    assert reported[0].message.startswith(f"`{op}()`") and f"`{lost}` gets None" in reported[0].message
    assert reported[0].fix_safety is None


@pytest.mark.parametrize("body", [
    "return self.dense(x) + tf.stop_gradient(tf.round(self.dense(x)) - self.dense(x))",  # straight-through
    "return tf.gather(self.dense(x), tf.argmax(self.gate(x), -1), batch_dims=1)",  # indices carry no gradient
    "logits = self.gate(x)\n            return tf.one_hot(tf.argmax(logits), 4) * tf.nn.softmax(logits)",  # router
    "h = self.dense(x)\n            return h + tf.floor(h)",  # the weights also reach the output directly
    "logits = self.gate(x)\n            return tf.cast(tf.argmax(logits), tf.float32) * tf.nn.softmax(logits)",
    "return tf.round(x) * self.dense(x)",  # rounding the inputs, not the weights
    "return x * tf.stop_gradient(self.kernel) + self.dense(x)",  # a frozen weight, not the whole output
])
def test_non_differentiable_op_with_another_route_or_off_the_value_path_is_not_reported(body):
    assert findings(LAYER.format(body=body), "GF501") == []


def test_non_differentiable_op_between_prediction_and_loss_suggests_straight_through():
    code = """
        import tensorflow as tf

        def step(model, x, y):
            with tf.GradientTape() as tape:
                predictions = tf.round(model(x, training=True))
                loss = tf.reduce_mean(tf.square(predictions - y))
            return tape.gradient(loss, model.trainable_variables)
        """
    reported = findings(code, "GF501")
    assert len(reported) == 1 and "tf.stop_gradient(tf.round(h) - h)" in reported[0].message


# --- the static path ---------------------------------------------------------------------------------

def test_checking_the_training_loop_fixtures_never_imports_tensorflow():
    folders = [str(FIXTURES / code) for code in ("GF103", "GF401", "GF402", "GF403", "GF404", "GF501")]
    script = ("import sys; from gradfix.cli import main; sys.argv = ['gradfix', 'check', '--no-cache', *sys.argv[1:]]\n"
              "try:\n    main()\nexcept SystemExit:\n    pass\n"
              "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow was imported'")
    completed = subprocess.run([sys.executable, "-c", script, *folders], capture_output=True, text=True, cwd=ROOT)
    assert completed.returncode == 0, completed.stderr[-2000:]


def test_gf401_keeps_training_true_for_a_tape_that_also_trains_the_model():
    """A gradient penalty inside a critic's training step: the outer tape trains the critic, so the critic runs
    in training mode, as the optimizer step needs."""
    code = """\
        import tensorflow as tf

        def train_step(critic, optimizer, real, fake):
            with tf.GradientTape() as outer:
                with tf.GradientTape() as inner:
                    inner.watch(fake)
                    score = critic.predict(fake, verbose=0)
                penalty = tf.reduce_mean((tf.norm(inner.gradient(score, fake), axis=1) - 1.0) ** 2)
                loss = tf.reduce_mean(critic(real)) + penalty
            grads = outer.gradient(loss, critic.trainable_variables)
            optimizer.apply_gradients(zip(grads, critic.trainable_variables))
        """
    after = fixed_text(textwrap.dedent(code), select=["GF401"])
    assert "critic(fake, training=True)" in after


# --- GF501 / GF403 -----------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    "return tf.cast(tf.argmax(self.dense(x), -1), tf.float32) + self.dense(x)[..., 0]",  # another route
    "h = self.dense(x)\n            q = tf.round(h)\n            return h + tf.stop_gradient(q - h)",
])
def test_straight_through_and_other_routes_stay_silent(body):
    assert findings(LAYER.format(body=body), "GF501") == []


def test_one_hot_of_an_argmax_is_reported_once_at_the_argmax():
    reported = findings(LAYER.format(body="return tf.one_hot(tf.argmax(self.dense(x), -1), 4) * x"), "GF501")
    assert [r.message.split("()")[0] for r in reported] == ["`tf.argmax"]
    assert "`self.dense` gets None" in reported[0].message


def test_a_loss_given_to_compile_that_stops_the_prediction_is_reported_but_not_its_metrics():
    code = """
        import tensorflow as tf

        def frozen_hinge(y_true, y_pred):
            return tf.reduce_mean(tf.maximum(0.0, 1.0 - y_true * tf.stop_gradient(y_pred)))

        def rounded_accuracy(y_true, y_pred):
            return tf.reduce_mean(tf.cast(tf.equal(y_true, tf.round(y_pred)), tf.float32))

        model = tf.keras.Sequential([tf.keras.layers.Dense(1)])
        model.compile("adam", loss=frozen_hinge, metrics=[rounded_accuracy])
        """
    reported = findings(code, "GF501")
    assert len(reported) == 1 and reported[0].message.startswith("`tf.stop_gradient()` in the loss `frozen_hinge`")
    assert "the weights of `model` get None" in reported[0].message


def test_a_batch_fetched_by_a_method_before_the_tape_is_not_a_forward_pass():
    code = """
        import tensorflow as tf

        class Trainer(tf.keras.Model):
            def __init__(self, data):
                super().__init__()
                self.data = data
                self.dense = tf.keras.layers.Dense(1)

            def next_batch(self):
                return self.data.get()

            def encode(self, x):
                return self.dense(x)

            def train_step(self, _):
                x, y = self.next_batch()
                features = self.encode(x)
                with tf.GradientTape() as tape:
                    loss = tf.reduce_mean(tf.square(features - y))
                return tape.gradient(loss, self.trainable_variables)
        """
    reported = findings(code, "GF403")
    assert len(reported) == 1 and reported[0].message.startswith("`features = self.encode(x)` (line 18)")


def test_a_target_detached_beside_the_prediction_in_a_called_loss_is_not_reported():
    """DDPG's actor loss (tf_agents): the target `stop_gradient(dqda + action)` next to `action`, which comes
    from the actor through `tf.nest.flatten`."""
    code = """
        import tensorflow as tf

        class Agent:
            def actor_loss(self, observation):
                actions = tf.nest.flatten(self._actor_network(observation))
                losses = []
                for action in actions:
                    dqda = tf.ones_like(action)
                    losses.append(tf.reduce_mean(tf.square(tf.stop_gradient(dqda + action) - action)))
                return tf.add_n(losses)

            def train(self, observation):
                variables = self._actor_network.trainable_variables
                with tf.GradientTape() as tape:
                    loss = self.actor_loss(observation)
                return tape.gradient(loss, variables)
        """
    assert findings(code, "GF501") == []


def test_lambda_layers_kept_in_attributes_and_names_run_their_function():
    code = """
        import tensorflow as tf
        from tensorflow import keras

        class Picker(keras.layers.Layer):
            def __init__(self):
                super().__init__()
                self.scores = keras.layers.Dense(4)
                self.pick = keras.layers.Lambda(lambda s: tf.one_hot(tf.argmax(s, -1), 4))
                self.head = keras.layers.Dense(1)

            def call(self, x):
                return self.head(self.pick(self.scores(x)))

        inputs = keras.Input((8,))
        hidden = keras.layers.Dense(8, name="hidden")(inputs)
        rounding = keras.layers.Lambda(lambda t: tf.round(t))
        model = keras.Model(inputs, keras.layers.Dense(1)(rounding(hidden)))
        model.compile("adam", "mse")
        """
    reported = findings(code, "GF501")
    assert [(r.line, r.message.split(" has no gradient: ")[1].split(";")[0]) for r in reported] == [
        (9, "`self.scores` gets None"), (17, "`hidden` gets None")]
