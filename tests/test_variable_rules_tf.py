"""The variable-tracking fixes proven with TensorFlow, under Keras 3 and under tf_keras.

Every GF201/GF203/GF204/GF205/GF301/GF303 fixture that defines `make()` is built before and after its fix
(`case.py` and `case.expected.py`, which tests/test_fixtures.py holds equal to gradfix's output) by
tests/tf_models/weight_report.py, one process per Keras version. After the fix every intended weight
must be in `model.trainable_variables`, receive a gradient, and (Keras 3) survive
`model.save("x.keras")` + `keras.models.load_model` with equal values; before it, Keras 3 must show the
bug, so these tests can fail.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES

pytestmark = pytest.mark.tf

REPORTER = Path(__file__).resolve().parent / "tf_models" / "weight_report.py"
RULES = ("GF201", "GF203", "GF204", "GF205", "GF301", "GF303")
# A fixture whose fix only Keras 3 can express says so on a line of its own.
KERAS_3_ONLY = "# gradfix-fixture: keras-3-only"


def _model_fixtures() -> list[Path]:
    return [before for rule in RULES for before in sorted((FIXTURES / rule).glob("*.py"))
            if not before.name.endswith(".expected.py") and "\ndef make(" in before.read_text(encoding="utf-8")]


CASES = _model_fixtures()
IDS = [f"{case.parent.name}/{case.stem}" for case in CASES]


def _expected(before: Path) -> Path:
    return before.with_name(before.stem + ".expected.py")


@functools.cache
def weight_report(keras_version: str) -> dict:
    """Path → report of weight_report.py, for every model fixture before and after its fix."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TF_USE_LEGACY_KERAS", None)
    if keras_version == "2":
        env["TF_USE_LEGACY_KERAS"] = "1"
    files = [str(path) for case in CASES for path in (case, _expected(case))]
    completed = subprocess.run([sys.executable, str(REPORTER), *files], env=env, capture_output=True, text=True,
                               timeout=300)
    line = next((l for l in completed.stdout.splitlines() if l.startswith("REPORT ")), None)
    assert line, completed.stderr[-3000:]
    return json.loads(line[len("REPORT "):])


def test_model_fixtures_exist_for_every_rule():
    assert {case.parent.name for case in CASES} == set(RULES)


@pytest.mark.parametrize("keras_version", ["3", "2"])
@pytest.mark.parametrize("before", CASES, ids=IDS)
def test_every_intended_weight_trains_and_is_saved_after_the_fix(before, keras_version):
    if keras_version == "2" and KERAS_3_ONLY in before.read_text(encoding="utf-8"):
        pytest.skip("tf_keras has no per-variable `trainable` switch: the fix is for Keras 3")
    after = weight_report(keras_version)[str(_expected(before))]
    assert "error" not in after, after.get("error")
    assert after["intended"], "the walk found no weights: the fixture or the reporter is broken"
    assert after["untracked"] == [], "not in model.trainable_variables"
    assert after["no_gradient"] == [], "no gradient from the loss"
    assert after["not_restored"] == [], "lost or changed by save + load_model"


@pytest.mark.parametrize("before", [c for c in CASES if c.parent.name != "GF301"],
                         ids=[i for i, c in zip(IDS, CASES) if c.parent.name != "GF301"])
def test_keras_3_shows_the_bug_before_the_fix(before):
    report = weight_report("3")
    broken, fixed = report[str(before)], report[str(_expected(before))]
    assert "error" in broken or broken["untracked"] or broken["no_gradient"] or broken["not_restored"] \
        or len(broken["intended"]) < len(fixed["intended"]), "the unfixed model already trains: a useless fixture"
