"""One realistic script per pattern of issue 13 (tests/scripts13/): `gradfix verify` fails on it, naming the
cause, and passes on what `gradfix apply` makes of it — in the Keras it was written for. The original and
the fixed text are verified side by side (the fixed one through verify's overlay: nothing is written)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import fixed_text
from gradfix.verify.runner import run_verify

pytestmark = pytest.mark.tf

SCRIPTS = Path(__file__).resolve().parent / "scripts13"

# script -> (Keras, the rule whose fix repairs it, a piece of what verify says is broken before the fix)
CASES = {
    "keras1_attention_pooling.py": ("3", "GF303", "AttributeError"),
    "temperature_warm_up.py": ("3", "GF201", "trainable"),
    "bayes_by_backprop.py": ("3", "GF205", "bayesian_dense/mu"),
    "fine_tune_head_override.py": ("3", "GF301", "encoder"),
    "saliency_map.py": ("3", "GF401", "tape.gradient returned None for images"),
    "multi_head_projection.py": ("3", "GF101", "np.dot"),
    "tf_keras_multi_head_projection.py": ("2", "GF101", "np.dot"),
}


@pytest.mark.parametrize("script", sorted(CASES))
def test_script_fails_verify_before_apply_and_passes_after(script):
    keras, code, cause = CASES[script]
    original = SCRIPTS / script
    text = original.read_text(encoding="utf-8")
    fixed = fixed_text(text, select=[code])
    assert fixed != text, f"{code} did not fix {script}"
    if "tensorflow" not in text:  # backend-agnostic Keras 3: fixed with keras.ops, never tied to TensorFlow
        assert "tensorflow" not in fixed, fixed

    with ThreadPoolExecutor(max_workers=2) as pool:
        before, after = pool.map(lambda patched: run_verify(str(original), keras=keras, timeout=240, patched=patched),
                                 [None, {original: fixed}])
    assert before.exit_code != 0, f"the broken script passed verify: {before.to_dict()}"
    said = " ".join(before.failures + [before.error or ""])
    assert cause in said, said
    assert after.exit_code == 0, f"the fixed script fails verify: {after.failures} {after.error} {after.output}"
