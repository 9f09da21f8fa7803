"""`compare`, behind `gradfix apply --verify`: the original and the patched source verified side by side."""

from __future__ import annotations

import pytest

from gradfix.verify.runner import compare

pytestmark = pytest.mark.tf


def test_a_fix_that_makes_gradients_flow_is_kept(verify_models):
    original = verify_models / "bare_variable_broken.py"
    patched = original.read_text(encoding="utf-8").replace(
        'tf.Variable(tf.random.normal((input_shape[-1],)), name="w")',
        'self.add_weight(shape=(input_shape[-1],), initializer="random_normal", name="w")')
    comparison = compare(original, patched, keras="3")
    assert comparison.keep_patch, comparison.reason
    # different initial values, same function: the digest compares on weights derived from variable paths
    assert comparison.summary() == "bare_variable_broken.py: 2/3 → 3/3 variables get gradients; forward max |Δ| 0.0"


def test_a_patch_that_breaks_the_factory_is_left_out_naming_the_original_file(verify_models):
    original = verify_models / "factories.py"
    patched = original.read_text(encoding="utf-8") + "\nraise RuntimeError('the patch broke this')\n"
    comparison = compare(original, patched, factory="make_untracked", keras="3")
    assert not comparison.keep_patch
    line = len(patched.splitlines())
    error = f"{original}:{line}: RuntimeError: the patch broke this"  # the user's file, not the temporary copy
    assert comparison.reason == f"the patched version fails to run: {error}"
    assert comparison.summary().startswith("factories.py: 2/3 → 0/0 (did not finish) variables get gradients; "
                                           "forward not compared; left unpatched: the patched version fails")
