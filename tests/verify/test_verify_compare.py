"""`verify_change`, behind `gradfix apply --verify`: a change verified before and after, its files patched in
place for the run only (the overlay), never written."""

from __future__ import annotations

import functools
import os

import pytest

from gradfix.verify.change import verify_change, verify_target
from gradfix.verify.runner import run_verify

pytestmark = pytest.mark.tf

RUN = functools.partial(run_verify, keras="3")


def _target(factory=None):
    return lambda path, source: f"{path}::{factory}" if factory else verify_target(path, source, {}, None)


def test_a_fix_that_makes_gradients_flow_is_kept(verify_models):
    original = verify_models / "bare_variable_broken.py"
    source = original.read_text(encoding="utf-8")
    patched = source.replace('tf.Variable(tf.random.normal((input_shape[-1],)), name="w")',
                             'self.add_weight(shape=(input_shape[-1],), initializer="random_normal", name="w")')
    change, _ = verify_change([original], {original: source}, {original: patched}, _target(), RUN)
    assert change.proven, change.reason
    # different initial values, same function: the digest compares on weights derived from variable paths
    assert change.lines() == ["bare_variable_broken.py: 2/3 → 3/3 variables get gradients; forward max |Δ| 0.0"]
    assert original.read_text(encoding="utf-8") == source


def test_a_patch_that_breaks_the_factory_is_left_out_naming_the_original_file(verify_models):
    original = verify_models / "factories.py"
    source = original.read_text(encoding="utf-8")
    patched = source + "\nraise RuntimeError('the patch broke this')\n"
    change, _ = verify_change([original], {original: source}, {original: patched}, _target("make_untracked"), RUN)
    assert not change.keep
    where = os.path.relpath(original)  # the user's file (relative to the cwd), not a temporary copy
    error = f"{where}:{len(patched.splitlines())}: RuntimeError: the patch broke this"
    assert change.reason == f"the patched version fails to run: {error}"
    assert change.lines()[0].startswith("factories.py::make_untracked: 2/3 → 0/0 (did not finish) variables get "
                                        "gradients; forward not compared; left unpatched: the patched version fails")


def test_tf_function_traces_the_patched_source_not_the_file(tmp_path):
    """Autograph recompiles a tf.function from its source: the overlay must answer with the patched text (through
    linecache), or what the fix removed would come back in the graph."""
    script = tmp_path / "step.py"
    script.write_text(SCALE_STEP, encoding="utf-8")
    outcome = RUN(str(script), patched={script: SCALE_STEP.replace("x * 2.0", "x * 3.0")})
    assert "scaled: 3.0" in outcome.output
    assert script.read_text(encoding="utf-8") == SCALE_STEP


SCALE_STEP = """import tensorflow as tf


@tf.function
def scale(x):
    if x > 0:  # a tensor condition: autograph converts the function from its source
        return x * 2.0
    return x


print("scaled:", float(scale(tf.constant(1.0))))
"""
