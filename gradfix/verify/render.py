"""Verify results as rich tables: for the CLI, for `str(report)` and for pytest failure messages. Names are
folded, never cut: a row must say exactly which weight it is about."""

from __future__ import annotations

import io
from collections import Counter
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from gradfix.verify.report import (CUT, FAILING_VERDICTS, FROZEN, TRAINS, UNKNOWN, UNUSED, CutSite, GradientReport,
                                   TapeCall, VariableStatus, judged_names)

if TYPE_CHECKING:
    from gradfix.verify.runner import VerifyOutcome

_VERDICT_STYLES = {TRAINS: "green", UNUSED: "yellow", FROZEN: "cyan", UNKNOWN: "yellow"}
PLAIN_WIDTH = 130  # logs and pipes; longer names fold onto the next line
_MAX_NAME_WIDTH = 58  # names up to this long stay on one line; the verdict keeps the rest of the width


def to_text(renderable: RenderableType) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=PLAIN_WIDTH, color_system=None, highlight=False).print(renderable)
    return "\n".join(line.rstrip() for line in buffer.getvalue().rstrip("\n").splitlines())


def report_renderable(report: GradientReport) -> RenderableType:
    table = Table(title=f"{report.model} ({report.inputs})\nloss: {report.loss}", title_justify="left",
                  box=box.SIMPLE_HEAD, title_style="bold")
    longest = max((len(text) for v in report.variables for text in (v.name, v.path)), default=0)
    table.add_column("variable / attribute", overflow="fold", width=min(longest + 2, _MAX_NAME_WIDTH))
    table.add_column("shape", no_wrap=True)
    for column in ("mean |grad|", "max |grad|"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("verdict", overflow="fold", ratio=1)  # the rest of the width
    for v in report.variables:
        table.add_row(Text.assemble(v.name, "\n", (f"  {v.path}", "dim")), str(tuple(v.shape)),
                      _magnitude(v.grad_mean), _magnitude(v.grad_max), verdict_text(v))
    notes = [Text(f"✗ {failure}", style="red") for failure in report.model_failures]
    if report.error and report.inputs_synthesized:
        notes.append(Text(f"not probed with these inputs: {report.error}", style="yellow"))
    return Group(table, *notes)


def verdict_text(v: VariableStatus) -> Text:
    """`✗ cut at model.py:26: np.dot on a tensor [GF101]`, `⚠ unused: ...`, `✓ trains`."""
    verdict = v.verdict
    if verdict == TRAINS:
        return Text(f"✓ {v.detail}", style="green")
    mark = "✗ " if verdict in FAILING_VERDICTS else "⚠ " if verdict == UNUSED else ""
    detail = v.detail if verdict != CUT or not v.cut else v.detail.replace(str(v.cut), _site(v.cut))
    text = detail if detail.startswith(verdict) else f"{verdict}: {detail}"
    return Text(mark + text, style=_VERDICT_STYLES.get(verdict, "red" if mark else "dim"))


def _site(site: CutSite) -> str:
    """The cut point with the code of the static finding on its line, the finding itself listed below."""
    code = f" [{site.finding.split()[0]}]" if site.finding else ""
    return f"{site.location}: {site.what}{code}"


def _magnitude(value: float | None) -> str:
    return "–" if value is None else "0" if value == 0 else f"{value:.1e}"


def outcome_renderable(outcome: VerifyOutcome) -> RenderableType:
    parts: list[RenderableType] = [Text(f"gradfix verify {outcome.target}" + (f" ({outcome.keras})"
                                                                             if outcome.keras else ""), style="bold")]
    parts += [report_renderable(report) for report in outcome.models]
    if outcome.tape_calls:
        parts.append(_tape_calls_table(outcome.tape_calls, {v.name for v in outcome.variables}))
    findings = _explaining_findings(outcome)
    if findings:
        parts.append(Group(Text("static findings on the cut lines (gradfix check):", style="bold"),
                           *(Text(f"  {finding}") for finding in findings)))
    parts.append(_verdict_line(outcome))
    return Group(*parts)


def _explaining_findings(outcome: VerifyOutcome) -> list[str]:
    sites = [v.cut for v in outcome.variables if v.cut and v.verdict == CUT]
    sites += [site for call in outcome.tape_calls for site in call.cuts.values()]
    return list(dict.fromkeys(site.finding for site in sites if site.finding))


def _tape_calls_table(tape_calls: list[TapeCall], judged: set[str]) -> Table:
    table = Table(title="GradientTape.gradient calls made by the target", title_justify="left",
                  box=box.SIMPLE_HEAD, title_style="bold")
    for column in ("called at", "calls", "mode", "sources"):
        table.add_column(column, overflow="fold")
    table.add_column("sources whose gradient is None", overflow="fold", min_width=24)
    for call in tape_calls:
        table.add_row(call.location, str(call.calls), "tf.function (per trace)" if call.in_function else "eager",
                      str(call.sources), _nones(call, judged))
    return table


def _nones(call: TapeCall, judged: set[str]) -> Text:
    """The sources that got None; variables with a row above are counted, not listed again."""
    if call.ok:
        return Text("– (all got gradients)", style="green")
    unread = set(call.unread_variables)
    in_rows = [name for name in call.none_variables if name in judged]
    parts = [f"{len(in_rows)} variable{'s' * (len(in_rows) != 1)} (verdicts above)"] if in_rows else []
    parts += [f"{name} (never read)" if name in unread else name for name in call.none_variables
              if name not in judged]
    parts += [f"{name} (a tensor)" for name in call.none_tensors]
    text = ", ".join(parts)
    if call.cuts:
        text += f"; first cut: {_site(next(iter(call.cuts.values())))}"
    return Text(text, style="red" if call.none_tensors or call.cuts else "yellow")


def _verdict_line(outcome: VerifyOutcome) -> RenderableType:
    trained, meant = outcome.gradient_counts
    counts = Counter(v.verdict for v in outcome.variables if v.meant_to_train and v.verdict != TRAINS)
    why = ", ".join(f"{count} {verdict}" for verdict, count in counts.items())
    summary = f"{trained}/{meant} variables meant to train get gradients" + (f" ({why})" if why else "") \
        if meant else "no model variables probed (the tape calls above decide)"
    lines = []
    if outcome.exit_code == 0:
        lines.append(Text(f"✓ gradients flow: {summary}", style="bold green"))
    elif outcome.exit_code == 1:
        lines.append(Text(f"✗ gradients do not flow: {summary}", style="bold red"))
        judged = {v.label for v in outcome.variables}
        lines += [Text(f"✗ {failure}", style="red") for failure in outcome.failures
                  if not any(failure.startswith(f"{report.model}: ") for report in outcome.models)
                  and failure.split(":")[0] not in judged]
    unused = [v.label for v in outcome.variables if v.verdict == UNUSED]
    unused += [warning for call in outcome.tape_calls for warning in call.warnings(judged_names(outcome.models))]
    if unused and outcome.exit_code != 2:
        label = "✗ unused (--strict): " if outcome.strict else "⚠ unused, a warning (--strict makes it a failure): "
        lines.append(Text(label + ", ".join(unused), style="yellow"))
    if outcome.error:
        prefix = "the target stopped" if outcome.exit_code == 1 else "✗ cannot verify"
        lines.append(Text(f"{prefix}: {outcome.error}", style="bold red" if outcome.exit_code == 2 else "red"))
    return Group(*lines)
