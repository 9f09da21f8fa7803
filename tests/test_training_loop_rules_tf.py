"""The training-loop fixtures really train once fixed: run every fixture that defines `train()` under
TensorFlow, before and after the fix (`case.py` / `case.expected.py`), in Keras 3 and in tf_keras.

Before: the script is broken (an error, a None gradient, or no progress). After: every `tape.gradient`
result is complete and the loss goes down. One subprocess per Keras version runs all scripts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import FIXTURES, ROOT

pytestmark = pytest.mark.tf

RULES = ("GF103", "GF401", "GF402", "GF403", "GF404")
RUNNER = ROOT / "tests" / "training_loops" / "run_training_fixtures.py"
KERAS_VERSIONS = {"keras3": ({}, "keras"), "tf_keras": ({"TF_USE_LEGACY_KERAS": "1"}, "tf_keras")}


def training_fixtures() -> list:
    cases = []
    for code in RULES:
        for before in sorted((FIXTURES / code).glob("*.py")):
            if before.name.endswith(".expected.py") or "\ndef train(" not in before.read_text(encoding="utf-8"):
                continue
            cases.append((before, before.with_name(before.stem + ".expected.py")))
    return cases


@pytest.fixture(scope="module", params=sorted(KERAS_VERSIONS))
def outcomes(request):
    extra_env, package = KERAS_VERSIONS[request.param]
    scripts = [str(path) for pair in training_fixtures() for path in pair]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", **extra_env}
    completed = subprocess.run([sys.executable, str(RUNNER), *scripts], capture_output=True, text=True, env=env,
                               timeout=300, cwd=ROOT)
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout)
    assert report.pop("keras") == package
    return report


def test_every_rule_with_a_fix_has_a_training_fixture():
    covered = {before.parent.name for before, _ in training_fixtures()}
    assert covered == set(RULES)


@pytest.mark.parametrize("before, after", training_fixtures(),
                         ids=[f"{before.parent.name}/{before.stem}" for before, _ in training_fixtures()])
def test_broken_before_and_training_after(outcomes, before, after):
    broken, fixed = outcomes[str(before)], outcomes[str(after)]
    losses = broken["losses"]
    assert broken["error"] or broken["none_gradients"] or not losses[-1] < losses[0], \
        f"{before.name} is not broken before the fix: {broken}"
    assert fixed["error"] is None, fixed["error"]
    assert fixed["gradient_calls"] and fixed["none_gradients"] == 0, fixed
    assert fixed["losses"][-1] < fixed["losses"][0], fixed["losses"]
