"""`gradfix verify --plot`: the chart's data (weights in forward order, marked by verdict) against the report's rows;
one test that the image file is written."""

from __future__ import annotations

import pytest

from gradfix.verify.plot import COLOURS, WeightFlow, check_plot_path, flow_chart, weights_of, write_plot
from gradfix.verify.report import (FAILING_VERDICTS, NOT_TRAINABLE, VERDICTS, CutSite, GradientReport, TapeCall,
                                   VariableStatus)
from gradfix.verify.runner import VerifyOutcome


def _row(name, read_order, gradient="ok", magnitude=0.5, **flags) -> VariableStatus:
    status = dict(path=f"model.{name}", name=f"net/{name}", shape=[2], tracked=True, trainable=True, frozen=False,
                  in_trainable_variables=True, gradient=gradient, read=read_order is not None, read_order=read_order,
                  grad_mean=magnitude if gradient != "none" else None,
                  grad_max=2 * magnitude if gradient != "none" else None)
    return VariableStatus(**{**status, **flags})


ROWS = [
    _row("head/kernel", 4),
    _row("hidden/kernel", 1, gradient="none", cut=CutSite("model.py:8", "np.dot on a tensor")),  # read, cut
    _row("embed/table", 0, magnitude=1e-7),
    _row("spare/kernel", None, gradient="none"),  # never read: unused
    _row("frozen/kernel", None, gradient="none", frozen=True, in_trainable_variables=False),
    _row("bn/moving_mean", None, gradient="none", trainable=False, in_trainable_variables=False),  # a statistic
    _row("gain", 3, tracked=False, in_trainable_variables=False),  # untracked, gets a gradient
    _row("head/bias", 5),  # the probe's gradient exists; the script's own tape got None: cut in training
]
OUTCOME = VerifyOutcome("train.py", models=[GradientReport("Net 'net'", ROWS)],
                        tape_calls=[TapeCall("train.py:12", True, 4, ["net/head/bias"],
                                             cuts={"net/head/bias": CutSite("train.py:10", "np.asarray on a tensor")})])


def test_marked_weights_are_the_reports_verdicts():
    chart = flow_chart(weights_of(OUTCOME))
    assert chart.marked() == {"cut": ["net/hidden/kernel", "net/head/bias"], "untracked": ["model.gain"],
                              "unused": ["net/spare/kernel"], "frozen": ["net/frozen/kernel"]}
    failing = {name for verdict, names in chart.marked().items() if verdict in FAILING_VERDICTS for name in names}
    assert failing == OUTCOME.failing_variables  # the same weights the table says will not train
    assert "net/bn/moving_mean" not in chart.names


def test_weights_come_in_forward_order_with_their_magnitudes():
    chart = flow_chart(weights_of(OUTCOME))
    assert chart.names == ["net/embed/table", "net/hidden/kernel", "model.gain", "net/head/kernel", "net/head/bias",
                           "net/spare/kernel", "net/frozen/kernel"]  # read ones first, unread after
    assert (chart.means[0], chart.maxima[0]) == (1e-7, 2e-7)
    assert chart.means[1] is None and chart.maxima[1] is None
    assert chart.floor == 1e-8  # a decade below the smallest gradient: the log axis' bottom
    assert chart.colours[1] == COLOURS["cut"]


def test_several_models_name_their_weights_by_model():
    outcome = VerifyOutcome("train.py", models=[GradientReport("G 'gen'", [_row("w", 0)]),
                                                GradientReport("D 'disc'", [_row("w", 0)])])
    assert [w.name for w in weights_of(outcome)] == ["G 'gen': net/w", "D 'disc': net/w"]


def test_every_verdict_but_not_trainable_has_a_colour_and_another_is_an_error():
    assert set(COLOURS) == set(VERDICTS) - {NOT_TRAINABLE}  # statistics (batch-norm means) are not plotted
    with pytest.raises(ValueError, match="no colour for the verdict"):
        flow_chart([WeightFlow("w", "mystery", None, None, 0)])


def test_the_plot_path_is_checked_before_anything_runs(tmp_path, gradfix_verify):
    with pytest.raises(ValueError, match=r"--plot writes \.png or \.svg files, not grads\.pdf"):
        check_plot_path(tmp_path / "grads.pdf")
    script = tmp_path / "train.py"
    script.write_text("raise SystemExit('must not run')\n", encoding="utf-8")
    code, _, _ = gradfix_verify(str(script), "--plot", str(tmp_path / "grads.jpg"))
    assert code == 2 and not (tmp_path / "grads.jpg").exists()


def test_the_plot_is_written(tmp_path):
    pytest.importorskip("matplotlib")
    write_plot(OUTCOME, tmp_path / "grads.png")
    write_plot(OUTCOME, tmp_path / "grads.svg")
    assert (tmp_path / "grads.png").read_bytes().startswith(b"\x89PNG")
    assert "<svg" in (tmp_path / "grads.svg").read_text(encoding="utf-8")


@pytest.mark.tf
def test_verify_plot_marks_the_weights_the_table_names(gradfix_verify, verify_models, tmp_path):
    plot = tmp_path / "grads.png"
    code, _, data = gradfix_verify(str(verify_models / "bare_variable_broken.py"), "--keras", "3",
                                   "--output-format", "json", "--plot", str(plot))
    assert code == 1 and plot.read_bytes().startswith(b"\x89PNG")
    outcome = VerifyOutcome.from_dict(data["target"], data)
    assert flow_chart(weights_of(outcome)).marked() == {"untracked": ["model.scale.w"]}
    assert set(data["failing_variables"]) == {"model.scale.w"}
