"""The causes users report, as realistic scripts (tests/scripts501/): `gradfix verify` shows them broken — the
variables that get no gradient — and `gradfix check` names the cause statically: the op (GF501) or the forward
pass (GF403), and exactly the weights `verify` finds untrained. Both rules only report, so the pair is the test.

The verify runs (one TensorFlow subprocess each) are started two at a time in a module fixture.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import ROOT, run_on_text

pytestmark = pytest.mark.tf

SCRIPTS = ROOT / "tests" / "scripts501"
ALL = None  # every variable of the model
# script -> (Keras, code, line of the finding, words the message must contain, layers verify finds untrained)
CASES = {
    "tagger_argmax_lambda": ("3", "GF501", 16, ["`tf.argmax()`", "`tag_scores`, `tokens` get None", "softmax"],
                             ["tag_scores", "tokens"]),
    "hard_choice_one_hot_lambda": ("2", "GF501", 14, ["`K.argmax()`", "`router` gets None", "Gumbel-softmax"],
                                   ["router"]),
    "text_gan_argmax": ("2", "GF501", 19, ["`K.argmax()`", "`generator` gets None"], ALL),
    "rounded_loss_compiled": ("3", "GF501", 13, ["`tf.round()` in the loss `rounded_mse`", "straight-through"], ALL),
    "numpy_function_loss": ("3", "GF501", 19, ["`tf.numpy_function()`", "rewrite `_rank_distance`"], ALL),
    "loss_method_rounds": ("3", "GF501", 18, ["`tf.round()` in `custom_loss`, called at line 26"], ALL),
    "logits_from_the_caller": ("3", "GF403", 23, ["`logits = model(features, training=True)`", "`apply_step`"],
                               ALL),
    "reinforce_episode_list": ("3", "GF403", 33, ["`logits = policy(state[None])`", "log_probs.append"], ALL),
    "minimize_precomputed_cost": ("2", "GF403", 12, ["`prediction = model(x)`", "optimizer.minimize"], ALL),
}


def _verify(name: str) -> dict:
    keras = CASES[name][0]
    completed = subprocess.run([sys.executable, "-m", "gradfix", "verify", str(SCRIPTS / f"{name}.py"), "--keras",
                                keras, "--output-format", "json"], capture_output=True, text=True, cwd=ROOT,
                               timeout=300)
    outcome = json.loads(completed.stdout)
    assert completed.returncode == outcome["exit_code"]
    return outcome


@pytest.fixture(scope="module")
def outcomes() -> dict:
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(CASES, pool.map(_verify, CASES)))


def test_every_script_is_a_case():
    assert sorted(p.stem for p in SCRIPTS.glob("*.py")) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_verify_fails_where_the_finding_says(outcomes, name):
    keras, code, line, words, layers = CASES[name]
    outcome = outcomes[name]
    assert outcome["exit_code"] == 1, outcome["error"]
    assert outcome["keras"].startswith("keras 3." if keras == "3" else "tf_keras 2.")
    trainable = [v["name"] for model in outcome["models"] for v in model["variables"] if not v["frozen"]]
    failing = outcome["failing_variables"]
    if layers is ALL:  # the generator of the GAN is all the combined model trains
        assert sorted(failing) == sorted(trainable)
    else:
        assert sorted({variable.split("/")[-2] for variable in failing}) == sorted(layers)

    text = (SCRIPTS / f"{name}.py").read_text(encoding="utf-8")
    report = run_on_text(text, name=f"{name}.py", select=[code])
    assert (code, line) in [(d.code, d.line) for d in report.diagnostics]
    message = next(d.message for d in report.diagnostics if d.line == line)
    assert all(word in message for word in words), message
