"""Run the selected rules on one file: screen, parse once, analyse once, fix to a fixpoint, check the result.

Fixes are text edits. Overlapping fixes (a `.numpy()` inside an `np.dot`) are applied over successive
passes, like ruff does, until no rule has a fix left. Before anything is returned for writing, the
safety net checks that the result parses, that one more pass changes nothing, and that every changed
line lies inside a node some rule set out to rewrite.
"""

from __future__ import annotations

import bisect
import re
import tokenize
from dataclasses import dataclass, field
from typing import Iterator

from gradfix.analysis import FileAnalysis, ProjectIndex
from gradfix.edits import import_edit
from gradfix.rules import Finding, FixSafety, Rule, Severity
from gradfix.source import Edit, SourceError, SourceText, apply_edits, parse

MAX_FIX_PASSES = 10
KERAS_MARKERS = ("tensorflow", "keras")
_SUPPRESSION = re.compile(r"#\s*(?:gradfix:\s*ignore|noqa)\b(?:\s*(?:\[|:)\s*([\w\s,]+)\]?)?", re.IGNORECASE)
SKIP_FILE = "# gradfix: skip-file"
_RULE_CODE = re.compile(r"\b[A-Za-z]+[0-9]+\b")  # `# noqa: GF101, E501 reason` names GF101 and E501


@dataclass(frozen=True)
class FixEdit:
    """A fix edit as reported to users: 1-based line, 1-based column, end exclusive."""

    line: int
    col: int
    end_line: int
    end_col: int
    content: str
    cell: int | None = None  # notebooks: the cell the edit lies in (positions are then within the cell)


@dataclass(frozen=True)
class Diagnostic:
    """A finding detached from the syntax tree: what output formats, the cache and worker processes carry."""

    path: str
    code: str
    message: str
    severity: Severity
    line: int
    col: int
    end_line: int
    end_col: int
    fix_safety: FixSafety | None = None  # None: the finding has no fix
    fix_edits: tuple[FixEdit, ...] = ()
    applied: bool = False
    cell: int | None = None  # notebooks: 1-based cell number; line/col are then within the cell


@dataclass
class FileResult:
    path: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    original: SourceText | None = None
    fixed: SourceText | None = None  # set only when the fixes changed the text
    error: str | None = None  # the file could not be processed (one line, shown to the user)

    @property
    def changed(self) -> bool:
        return self.fixed is not None


@dataclass(frozen=True)
class Settings:
    unsafe_fixes: bool = False
    fix: bool = False
    target_keras: str = "auto"  # [tool.gradfix] target-keras: "2" keeps Keras-3-only fixes away


def could_have_findings(text: str, rules: list[Rule], index: ProjectIndex) -> bool:
    """The first, cheapest screen (it stops at the first word it finds): a trigger of a selected rule and a
    Keras/TF marker. `applicable_rules` says which rules, and knows more files to have no finding."""
    if SKIP_FILE in text or not any(t in text for rule in rules for t in rule.triggers):
        return False
    return any(m in text for m in KERAS_MARKERS) or index.mentions_project_class(text)


def applicable_rules(text: str, rules: list[Rule], index: ProjectIndex, facts: list | None = None) -> list[Rule]:
    """The whole screen, before any parse: the rules that may report on the text, told from the text alone: it
    is Keras/TF code, a trigger of theirs is in it (and their `pattern`), and for the rules that look only at
    Keras classes (`Rule.outside_keras_classes`), it may define one or says a word that leads them elsewhere.
    Those rules are set aside before their triggers are looked for, and each distinct trigger is looked for
    once. `facts`: the text's `ProjectIndex.facts`, when the caller has them."""
    if SKIP_FILE in text or not (any(m in text for m in KERAS_MARKERS) or index.mentions_project_class(text)):
        return []
    if any(rule.outside_keras_classes is not None for rule in rules) \
            and not index.may_define_keras_class(text, facts):
        rules = [rule for rule in rules if rule.outside_keras_classes is None
                 or any(word in text for word in rule.outside_keras_classes)]
    present = {t for t in {t for rule in rules for t in rule.triggers} if t in text}
    return [rule for rule in rules if not present.isdisjoint(rule.triggers)
            and (rule.pattern is None or rule.pattern.search(text))]


def process_source(path: str, source: SourceText, rules: list[Rule], settings: Settings,
                   index: ProjectIndex, applicable: list[Rule] | None = None) -> FileResult:
    """Findings (and fixes) of `rules` on one file; `applicable`: those of them the screen kept, if known."""
    result = FileResult(path=path, original=source)
    applicable = applicable_rules(source.text, rules, index) if applicable is None else applicable
    if not applicable:
        return result
    try:
        tree = parse(source.text)
    except SourceError as exc:
        result.error = str(exc)
        return result
    analysis = FileAnalysis(source, tree, index, target_keras=settings.target_keras)
    try:
        return _findings_and_fixes(result, analysis, applicable, rules, settings)
    finally:
        analysis.release()


def _findings_and_fixes(result: FileResult, analysis: FileAnalysis, applicable: list[Rule], rules: list[Rule],
                        settings: Settings) -> FileResult:
    source = analysis.source
    findings = run_rules(analysis, applicable)
    import_edit = None
    if any(f.fix and f.fix.needs_tensorflow_import for f in findings) and not analysis.tensorflow_imported:
        import_edit = tensorflow_import_edit(analysis)
    result.diagnostics = [diagnostic(result.path, source, f, import_edit) for f in findings]
    if settings.fix and any(usable(f, settings) for f in findings):
        try:
            fixed = fix_to_fixpoint(analysis, findings, rules, settings)
        except SafetyNetError as exc:
            result.error = f"internal error, file left unchanged: {exc}"
            return result
        if fixed.text != source.text:
            result.fixed = fixed
            result.diagnostics = [
                _mark_applied(d, f, settings) for d, f in zip(result.diagnostics, findings)]
    return result


def located(result: FileResult) -> FileResult:
    """The result with its findings where the user sees them (a notebook's in their cells, `SourceText.locate`)."""
    result.diagnostics = [result.original.locate(d) for d in result.diagnostics]
    return result


def run_rules(analysis: FileAnalysis, rules: list[Rule]) -> list[Finding]:
    """The findings of `rules` (those `applicable_rules` kept) on the file, suppressions left out."""
    findings = []
    for rule in rules:
        try:
            findings.extend(rule.check(analysis))
        except Exception as exc:  # name the rule: the user can ignore it, we can fix it
            raise RuleError(f"{rule.code} failed: {type(exc).__name__}: {exc}") from exc
    findings = [f for f in findings if not suppressed(analysis.source, f)]
    return sorted(findings, key=lambda f: (f.span.line, f.span.col, f.code))


def suppressed(source: SourceText, finding: Finding) -> bool:
    """`# gradfix: ignore[GF101]`, `# gradfix: ignore`, `# noqa: GF101` or bare `# noqa` on a line of the finding."""
    for lineno in range(finding.span.line, finding.span.end_line + 1):
        match = _SUPPRESSION.search(source.line(lineno))
        if match:
            codes = _RULE_CODE.findall(match.group(1) or "")
            if not codes or any(finding.code.startswith(c.upper()) for c in codes):
                return True
    return False


def suppression_edit(source: SourceText, line: int, end_line: int, code: str) -> Edit | None:
    """The edit that suppresses `code` for a finding on lines `line`..`end_line`: the code added to the
    suppression comment of one of those lines, else `  # gradfix: ignore[CODE]` at the end of the first line that
    ends in code (not inside a string, not after a backslash). None when no line can take a comment."""
    for lineno in range(line, end_line + 1):
        match = _SUPPRESSION.search(source.line(lineno))
        if match and match.group(1):
            codes = list(_RULE_CODE.finditer(match.group(1)))
            if codes:
                offset = source.line_starts[lineno - 1] + match.start(1) + codes[-1].end()
                return Edit(offset, offset, f", {code}")
    for lineno in _lines_ending_in_code(source, line, end_line):
        end = source.line_starts[lineno - 1] + len(source.line(lineno).rstrip("\r\n"))
        return Edit(end, end, f"  # gradfix: ignore[{code}]")
    return None


def _lines_ending_in_code(source: SourceText, first: int, last: int) -> Iterator[int]:
    """Lines in first..last whose end is outside any string and not a backslash continuation (the tokenizer
    ends them with NEWLINE or NL)."""
    lines = map(source.line, range(1, min(last + 1, len(source.line_starts)) + 1))
    try:
        for token in tokenize.generate_tokens(lambda: next(lines, "")):
            if token.start[0] > last:
                return
            if token.type in (tokenize.NEWLINE, tokenize.NL) and token.start[0] >= first:
                yield token.start[0]
    except (tokenize.TokenError, SyntaxError):
        return


def usable(finding: Finding, settings: Settings) -> bool:
    fix = finding.fix
    if fix is None or fix.safety is FixSafety.NONE:
        return False
    return fix.safety is FixSafety.SAFE or settings.unsafe_fixes


class RuleError(Exception):
    """A rule raised on this file; the message starts with its code."""


class SafetyNetError(Exception):
    """A rewritten file failed a check of the safety net; the message names the rules whose fixes were used."""

    def __init__(self, codes, reason: str):
        super().__init__(f"{', '.join(sorted(set(codes)))}: {reason}")


def fix_to_fixpoint(analysis: FileAnalysis, findings: list[Finding], rules: list[Rule],
                    settings: Settings) -> SourceText:
    source = analysis.source
    applied: set[str] = set()  # codes of the rules whose fixes were used, for the safety net's messages
    text = source.text
    first = analysis
    try:
        for _ in range(MAX_FIX_PASSES):
            fixable = [f for f in findings if usable(f, settings)]
            if not fixable:
                break
            chosen: list[Edit] = []
            needs_import = False
            for finding in fixable:
                if not any(e.overlaps(c) for e in finding.fix.edits for c in chosen):
                    chosen.extend(finding.fix.edits)
                    needs_import |= finding.fix.needs_tensorflow_import
                    applied.add(finding.code)
            _check_edits_are_local(analysis.source, chosen, fixable, applied)
            text = apply_edits(text, chosen)
            analysis = _reanalyse(analysis, text, applied, first)
            # The import goes in with the pass that needs it: the next pass must read `tf.where(...)` as the tensor
            # it is, or the numpy left around it is only found once the file is written (and fixed a second time).
            if needs_import and not analysis.tensorflow_imported:
                text = apply_edits(text, [tensorflow_import_edit(analysis)])
                analysis = _reanalyse(analysis, text, applied, first)
            findings = run_rules(analysis, applicable_rules(text, rules, analysis.index))  # a fix may add a trigger
        else:
            raise SafetyNetError({f.code for f in fixable}, "fixes did not converge")
    finally:
        if analysis is not first:
            analysis.release()
    import libcst  # here, not at import: checking a file (most runs) never needs it

    try:
        libcst.parse_module(text)
    except libcst.ParserSyntaxError as exc:
        raise SafetyNetError(applied, f"rewritten code does not parse: {exc.message}") from None
    try:
        source.to_bytes(text)
    except UnicodeEncodeError as exc:
        raise SafetyNetError(applied, f"rewritten code cannot be written as {source.encoding}: {exc.reason}") \
            from None
    return source.with_text(text)


def _reanalyse(previous: FileAnalysis, text: str, codes: set[str], first: FileAnalysis) -> FileAnalysis:
    """The analysis of the text a pass of fixes made; the previous pass's is released (not `first`: its
    caller releases it)."""
    try:
        tree = parse(text)
    except SourceError as exc:
        raise SafetyNetError(codes, f"a fix produced invalid code: {exc}") from None
    analysis = FileAnalysis(previous.source.with_text(text), tree, previous.index, previous.target_keras)
    if previous is not first:
        previous.release()
    return analysis


def _check_edits_are_local(source: SourceText, edits: list[Edit], findings: list[Finding], codes: set[str]) -> None:
    """Every edit of a pass lies on the lines of the findings that pass set out to rewrite or of the code their
    fixes own (decorators included; the blank lines, comments and line breaks around them may go with them); an
    insertion lies on or next to them. Checked pass by pass, in that pass's coordinates: linear, unlike diffing the file before and after,
    which is quadratic in files with many similar lines."""
    allowed = {line for f in findings for span in (f.span, *(f.fix.owns if f.fix else ()))
               for line in span.owned_lines}
    text, starts = source.text, source.line_starts
    for edit in edits:
        first = bisect.bisect_right(starts, edit.start)
        if edit.start == edit.end:
            at_boundary = edit.start == starts[first - 1] or text[edit.start:edit.start + 1] in ("", "\r", "\n")
            local = bool({first - 1, first, first + 1} & allowed) if at_boundary else first in allowed
        else:
            lines = range(first, bisect.bisect_right(starts, edit.end - 1) + 1)
            local = not allowed.isdisjoint(lines) and all(
                line in allowed or source.line(line).lstrip().startswith("#")
                for line in lines if _content_overlaps(source, line, edit.start, edit.end))
        if not local:
            raise SafetyNetError(codes, f"a fix changed line {first}, outside the code it was meant to rewrite")


def _content_overlaps(source: SourceText, line: int, start: int, end: int) -> bool:
    """Does [start, end) cover some non-blank text of the line (its line break aside)?"""
    line_start = source.line_starts[line - 1]
    content = source.line(line).rstrip("\r\n")
    return bool(content.strip()) and start < line_start + len(content) and line_start < end


def tensorflow_import_edit(analysis: FileAnalysis) -> Edit:
    """`import tensorflow as tf` (the file's alias) where `gradfix.edits.import_edit` puts an added import."""
    return import_edit(analysis, f"import tensorflow as {analysis.tf_name}")


def diagnostic(path: str, source: SourceText, finding: Finding, import_edit: Edit | None = None) -> Diagnostic:
    """The finding with its fix's edits; `import_edit` (`import tensorflow as tf`) is one of them when the fix
    needs it, so that a fix used on its own (an editor's quick fix, a JSON consumer) is whole."""
    span = finding.span
    fix = finding.fix
    edits = ()
    if fix:
        needed = (import_edit,) if import_edit and fix.needs_tensorflow_import else ()
        edits = tuple(_fix_edit(source, e) for e in fix.edits + needed)
    return Diagnostic(
        path=path, code=finding.code, message=finding.message, severity=finding.severity,
        line=span.line, col=source.column(span.line, span.col),
        end_line=span.end_line, end_col=source.column(span.end_line, span.end_col),
        fix_safety=fix.safety if fix and fix.safety is not FixSafety.NONE else None, fix_edits=edits)


def _fix_edit(source: SourceText, edit: Edit) -> FixEdit:
    starts = source.line_starts

    def position(offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(starts, offset)
        return line, offset - starts[line - 1] + 1

    return FixEdit(*position(edit.start), *position(edit.end), edit.text)


def _mark_applied(diag: Diagnostic, finding: Finding, settings: Settings) -> Diagnostic:
    if not usable(finding, settings):
        return diag
    return Diagnostic(**{**diag.__dict__, "applied": True})
