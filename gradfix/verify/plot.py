"""`gradfix verify --plot grads.png`: the gradient flow per weight, the chart people draw by hand to debug this —
mean and max |gradient| of each weight on a log scale, in forward order, and the weights that will not train
marked in their own colours.

`flow_chart` turns explicit per-weight data into what is drawn (tested on the data, not on pixels); `weights_of`
reads that data from a verify outcome; `draw` is the only part that needs matplotlib (`pip install
'gradfix[plot]'`), imported when a plot is asked for."""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gradfix.verify.report import (CUT, EXCLUDED, FROZEN, NOT_DIFFERENTIABLE, NOT_TRAINABLE, TRAINS, UNKNOWN, UNTRACKED,
                                   UNUSED)

if TYPE_CHECKING:
    from gradfix.verify.runner import VerifyOutcome

FORMATS = (".png", ".svg")
# the colour (matplotlib's tab10) of every verdict a plotted weight can have (all but not-trainable, which is not
# plotted); "trains" is the unmarked one
COLOURS = {TRAINS: "tab:blue", CUT: "tab:red", UNUSED: "tab:orange", UNTRACKED: "tab:purple", EXCLUDED: "tab:pink",
           FROZEN: "tab:gray", NOT_DIFFERENTIABLE: "tab:brown", UNKNOWN: "tab:olive"}
_FALLBACK_FLOOR = 1e-12  # the log axis' bottom when no weight has a gradient


@dataclass(frozen=True)
class WeightFlow:
    """One weight as the plot needs it."""

    name: str
    verdict: str  # a key of COLOURS
    mean_abs: float | None  # None: no gradient
    max_abs: float | None
    order: int  # position in the forward pass


@dataclass
class FlowChart:
    """What `draw` draws: weights in forward order, their bar heights and colours; `floor` is the log axis'
    bottom, where a weight without a gradient gets its marker."""

    names: list[str] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    means: list[float | None] = field(default_factory=list)
    maxima: list[float | None] = field(default_factory=list)
    floor: float = _FALLBACK_FLOOR

    @property
    def colours(self) -> list[str]:
        return [COLOURS[verdict] for verdict in self.verdicts]

    def marked(self) -> dict[str, list[str]]:
        """verdict → the weights marked with it, for every verdict but "trains"."""
        found: dict[str, list[str]] = {}
        for name, verdict in zip(self.names, self.verdicts):
            if verdict != TRAINS:
                found.setdefault(verdict, []).append(name)
        return found


def flow_chart(weights: list[WeightFlow]) -> FlowChart:
    unknown = {w.verdict for w in weights} - set(COLOURS)
    if unknown:
        raise ValueError(f"no colour for the verdict(s) {', '.join(sorted(unknown))}")
    ordered = sorted(weights, key=lambda w: w.order)
    positive = [value for w in ordered for value in (w.mean_abs, w.max_abs) if value and value > 0]
    floor = 10 ** math.floor(math.log10(min(positive)) - 1) if positive else _FALLBACK_FLOOR
    return FlowChart([w.name for w in ordered], [w.verdict for w in ordered], [w.mean_abs for w in ordered],
                     [w.max_abs for w in ordered], floor)


def weights_of(outcome: VerifyOutcome) -> list[WeightFlow]:
    """The weights of every model probed with their verdicts (not the statistics such as batch-norm means, which
    nothing trains), each model's in forward order: the weights its forward pass read, in the order they were
    created (layers build when first called), then the unread ones."""
    several = len(outcome.models) > 1
    weights: list[WeightFlow] = []
    for report in outcome.models:
        shown = [v for v in report.variables if v.verdict != NOT_TRAINABLE]
        for v in sorted(shown, key=lambda v: (v.read_order is None, v.read_order or 0)):  # sorted() is stable
            name = f"{report.model}: {v.label}" if several else v.label
            weights.append(WeightFlow(name, v.verdict, v.grad_mean, v.grad_max, len(weights)))
    return weights


def check_plot_path(path: Path) -> None:
    """Fail before anything runs when the plot cannot be written."""
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"--plot writes {' or '.join(FORMATS)} files, not {path.name}")
    if importlib.util.find_spec("matplotlib") is None:
        raise ValueError("--plot needs matplotlib: pip install 'gradfix[plot]'")


def write_plot(outcome: VerifyOutcome, path: Path) -> None:
    trained, meant = outcome.gradient_counts
    draw(flow_chart(weights_of(outcome)), path,
         title=f"gradient flow: {outcome.target}\n{trained}/{meant} weights meant to train get gradients")


def draw(chart: FlowChart, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    from matplotlib import pyplot
    from matplotlib.patches import Patch

    count = len(chart.names)
    figure, axes = pyplot.subplots(figsize=(min(4 + 0.35 * count, 40), 6.5), layout="constrained")
    positions = range(count)
    heights = [[value - chart.floor if value else 0.0 for value in values] for values in (chart.maxima, chart.means)]
    axes.bar(positions, heights[0], width=0.8, color=chart.colours, alpha=0.35, bottom=chart.floor)
    axes.bar(positions, heights[1], width=0.4, color=chart.colours, bottom=chart.floor)
    missing = [i for i, value in enumerate(chart.maxima) if value is None]
    axes.scatter(missing, [chart.floor * 1.5] * len(missing), marker="x", s=60,
                 color=[chart.colours[i] for i in missing], zorder=3)
    axes.set_yscale("log")
    axes.set_ylim(bottom=chart.floor)
    axes.set_xticks(list(positions), chart.names, rotation=90, fontsize=8)
    for label, colour in zip(axes.get_xticklabels(), chart.colours):
        label.set_color(colour)
    axes.set_xlim(-0.6, count - 0.4 if count else 0.6)
    axes.set_ylabel("|gradient| (wide, light: max; narrow: mean; ×: none)")
    axes.set_title(title, fontsize=10, loc="left")
    shown = dict.fromkeys(chart.verdicts) or {TRAINS: None}
    axes.legend(handles=[Patch(color=COLOURS[verdict], label=verdict) for verdict in shown], loc="upper left",
                bbox_to_anchor=(1.01, 1.0))  # beside the bars, never over them
    figure.savefig(path)
    pyplot.close(figure)
