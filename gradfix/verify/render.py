"""Verify results as rich tables: for the CLI, for `str(report)` and for pytest failure messages."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from gradfix.verify.report import GRADIENT_NONE, GRADIENT_OK, GRADIENT_ZERO, GradientReport, VariableStatus

if TYPE_CHECKING:
    from gradfix.verify.runner import VerifyOutcome

_GRADIENT_STYLES = {GRADIENT_OK: "green", GRADIENT_ZERO: "yellow", GRADIENT_NONE: "bold red"}
PLAIN_WIDTH = 130  # wide enough that the variable table does not fold


def to_text(renderable: RenderableType) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=PLAIN_WIDTH, color_system=None, highlight=False).print(renderable)
    return "\n".join(line.rstrip() for line in buffer.getvalue().rstrip("\n").splitlines())


def report_renderable(report: GradientReport) -> RenderableType:
    table = Table(title=f"{report.model} ({report.inputs})", title_justify="left", box=box.SIMPLE_HEAD,
                  title_style="bold")
    for column in ("variable", "shape", "tracked", "trainable", "in trainable_variables", "gradient", "verdict"):
        table.add_column(column)
    for v in report.variables:
        table.add_row(v.label, str(tuple(v.shape)), _yes_no(v.tracked),
                      "frozen" if v.frozen else _yes_no(v.trainable), _yes_no(v.in_trainable_variables),
                      Text(v.gradient, style=_GRADIENT_STYLES.get(v.gradient, "dim")), _verdict(v))
    notes = [Text(f"✗ {failure}", style="red") for failure in report.model_failures]
    if report.error and report.inputs_synthesized:
        notes.append(Text(f"not probed with these inputs: {report.error}", style="yellow"))
    return Group(table, *notes)


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def _verdict(v: VariableStatus) -> Text:
    if v.problems:
        return Text(f"✗ {'; '.join(v.problems)}", style="red")
    if v.frozen:
        return Text("frozen (deliberate)", style="cyan")
    if not v.meant_to_train:
        return Text("not trained", style="dim")
    return Text("✓ trains" + (" (zero gradient)" if v.gradient == GRADIENT_ZERO else ""), style="green")


def outcome_renderable(outcome: VerifyOutcome) -> RenderableType:
    parts: list[RenderableType] = [Text(f"gradfix verify {outcome.target}" + (f" ({outcome.keras})"
                                                                             if outcome.keras else ""), style="bold")]
    parts += [report_renderable(report) for report in outcome.models]
    if outcome.tape_calls:
        parts.append(_tape_calls_table(outcome))
    parts.append(_verdict_line(outcome))
    return Group(*parts)


def _tape_calls_table(outcome: VerifyOutcome) -> Table:
    table = Table(title="GradientTape.gradient calls made by the target", title_justify="left",
                  box=box.SIMPLE_HEAD, title_style="bold")
    for column in ("called at", "calls", "mode", "sources", "None for trainable variables"):
        table.add_column(column)
    for call in outcome.tape_calls:
        table.add_row(call.location, str(call.calls), "tf.function (per trace)" if call.in_function else "eager",
                      str(call.sources), Text(", ".join(call.none_variables), style="red") if call.none_variables
                      else Text("– (all got gradients)", style="green"))
    return table


def _verdict_line(outcome: VerifyOutcome) -> RenderableType:
    trained, meant = outcome.gradient_counts
    lines = []
    if outcome.exit_code == 0:
        lines.append(Text(f"✓ gradients flow: {trained}/{meant} variables meant to train get gradients",
                          style="bold green"))
    elif outcome.exit_code == 1:
        lines.append(Text(f"✗ gradients do not flow: {trained}/{meant} variables meant to train get gradients",
                          style="bold red"))
    if outcome.error:
        prefix = "the target stopped" if outcome.exit_code == 1 else "✗ cannot verify"
        lines.append(Text(f"{prefix}: {outcome.error}", style="bold red" if outcome.exit_code == 2 else "red"))
    return Group(*lines)
