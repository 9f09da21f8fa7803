"""Where numpy fixes go (codemods/_numpy_calls.py: op_namespaces, gradfix/numpy_to_tf.py): plain TF ops, keras.ops
or tf.experimental.numpy by the file's Keras, and the value-flow analysis reading every op a fix writes as carrying
gradient — otherwise the next pass of a multi-pass fix sees a tensor off the path and leaves the rest of the
island NumPy (a half fix, found by the differential test with `keras.ops.sort`)."""

from __future__ import annotations

import ast

import pytest

from gradfix.codemods._numpy_calls import op_namespaces
from conftest import fixed_text
from gradfix.analysis import FileAnalysis
from gradfix.numpy_to_tf import KERAS_OPS_FUNCTIONS, MAPPED_FUNCTIONS
from gradfix.source import SourceText

HEADERS = {  # file flavour -> (imports, Layer base)
    "keras 3 without tensorflow": ("import keras\nimport numpy as np\n", "keras.layers.Layer"),
    "keras ops imported": ("import numpy as np\nfrom keras import layers, ops\n", "layers.Layer"),
    "tf.keras": ("import numpy as np\nimport tensorflow as tf\n", "tf.keras.layers.Layer"),
    "keras with tensorflow": ("import keras\nimport numpy as np\nimport tensorflow as tf\n", "keras.layers.Layer"),
    "tensorflow's keras": ("import numpy as np\nfrom tensorflow import keras\n", "keras.layers.Layer"),
    "tf_keras": ("import numpy as np\nimport tensorflow as tf\nimport tf_keras\n", "tf_keras.layers.Layer"),
    "keras 3 without a keras name": ("import numpy as np\nfrom keras import layers\n", "layers.Layer"),
}


def _analysis(flavour: str, body: str = "return x", target_keras: str = "auto") -> FileAnalysis:
    imports, base = HEADERS[flavour]
    text = f"{imports}\n\nclass Block({base}):\n    def call(self, x):\n        {body}\n"
    return FileAnalysis(SourceText(text), ast.parse(text), target_keras=target_keras)


@pytest.mark.parametrize(("flavour", "expected"), [
    ("keras 3 without tensorflow", (None, "keras.ops")),
    ("keras ops imported", (None, "ops")),
    ("tf.keras", ("tf", "tf.experimental.numpy")),  # tf.keras.ops is missing under TF_USE_LEGACY_KERAS=1
    ("keras with tensorflow", ("tf", "keras.ops")),
    ("tensorflow's keras", ("tf", "tf.experimental.numpy")),
    ("tf_keras", ("tf", "tf.experimental.numpy")),
    ("keras 3 without a keras name", (None, None)),
])
def test_each_flavour_gets_its_namespaces(flavour, expected):
    assert op_namespaces(_analysis(flavour)) == expected


def test_a_keras_2_project_gets_tf_experimental_numpy_even_through_tf_keras_spelling():
    assert op_namespaces(_analysis("tf.keras", target_keras="2")) == ("tf", "tf.experimental.numpy")


# One call per mapped function on a gradient-path tensor `{0}` (a rank-2 weight `self.w` where two are needed).
SAMPLES = {
    "dot": "np.dot({0}, self.w)", "matmul": "np.matmul({0}, self.w)", "tensordot": "np.tensordot({0}, self.w, axes=1)",
    "einsum": "np.einsum('...i,ij->...j', {0}, self.w)", "concatenate": "np.concatenate([{0}, {0}], axis=-1)",
    "stack": "np.stack([{0}, {0}])", "reshape": "np.reshape({0}, (-1,))", "expand_dims": "np.expand_dims({0}, 0)",
    "clip": "np.clip({0}, -1.0, 1.0)", "where": "np.where({0} > 0, {0}, 0.5 * {0})", "take": "np.take({0}, [0, 2], axis=0)",
    "split": "np.split({0}, 2, axis=-1)[0]", "linalg.norm": "np.linalg.norm({0}, axis=-1)",
    **{name: f"np.{name}({{0}}, self.w)" for name in ("add", "subtract", "multiply", "divide", "true_divide", "power",
                                                  "maximum", "minimum")},
}
NOT_DIFFERENTIABLE = {"argmax", "argmin", "floor", "ceil", "round", "around", "sign", "zeros_like", "ones_like"}


@pytest.mark.parametrize("flavour", ["keras 3 without tensorflow", "tf.keras", "tf_keras"])
@pytest.mark.parametrize("function", sorted(MAPPED_FUNCTIONS - NOT_DIFFERENTIABLE))
def test_the_analysis_reads_every_fix_as_carrying_gradient(flavour, function):
    if flavour.startswith("keras 3") and function not in KERAS_OPS_FUNCTIONS:
        pytest.skip("no keras.ops fix")
    sample = SAMPLES.get(function, f"np.{function}({{0}})")
    fixed = _fixed(flavour, sample.format("(self.w @ x)"))  # rank unknown: the NumPy-compatible ops too
    analysis = FileAnalysis.from_text(fixed)
    (view,) = analysis.values.forward(analysis.keras_classes[0])
    returned = next(n.value for n in ast.walk(view.function) if isinstance(n, ast.Return))
    assert "np." not in analysis.segment(returned), fixed
    assert view.value(returned).on_gradient_path, fixed


def _fixed(flavour: str, expression: str) -> str:
    imports, base = HEADERS[flavour]
    return fixed_text(f"{imports}\n\nclass Block({base}):\n    def build(self, input_shape):\n"
                      f"        self.w = self.add_weight(shape=(4, 4))\n\n"
                      f"    def call(self, x):\n        return {expression}\n")
