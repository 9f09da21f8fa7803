"""Findings for people (text, concise), for scripts and editors (json), and for CI (sarif, github).

Every format names a finding by the same location: `path:line:col` for Python files and
`path:cell N:line L:col C` for notebooks (lines and columns 1-based, columns in characters).
The keys of the json and sarif output are part of the interface (README, "Output formats").
"""

from __future__ import annotations

import json
from pathlib import Path, PurePath
from typing import Iterable

from gradfix import __version__
from gradfix.engine import Diagnostic, FixEdit
from gradfix.rules import FixSafety, Severity, all_rules

FORMATS = ("text", "concise", "json", "sarif", "github")
MACHINE_FORMATS = ("json", "sarif", "github")  # whole documents or annotations: no human summary mixed in
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
GITHUB_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def fails_check(diagnostics: Iterable[Diagnostic]) -> bool:
    """`check` exits 1 for errors and warnings; info findings (a deliberate freeze) are shown but pass."""
    return any(d.severity is not Severity.INFO for d in diagnostics)


def location(d: Diagnostic) -> str:
    if d.cell is not None:
        return f"{d.path}:cell {d.cell}:line {d.line}:col {d.col}"
    return f"{d.path}:{d.line}:{d.col}"


def text_line(d: Diagnostic) -> str:
    marker = "[*] " if d.fix_safety is FixSafety.SAFE else ""
    return f"{location(d)}: {d.code} {marker}{d.message}"


def concise_line(d: Diagnostic) -> str:
    return f"{location(d)}: {d.code} {d.message}"


def summary(diagnostics: list[Diagnostic]) -> str:
    if not diagnostics:
        return "All checks passed."
    fixable = sum(d.fix_safety is FixSafety.SAFE for d in diagnostics)
    unsafe = sum(d.fix_safety is FixSafety.UNSAFE for d in diagnostics)
    line = f"Found {len(diagnostics)} finding{'s' if len(diagnostics) != 1 else ''}."
    if fixable:
        line += f"\n[*] {fixable} fixable with `gradfix apply`."
    if unsafe:
        line += f"\n{unsafe} more fixable with `gradfix apply --unsafe-fixes`."
    return line


def as_json(diagnostics: Iterable[Diagnostic]) -> str:
    return json.dumps([diagnostic_dict(d) for d in diagnostics], indent=2)


def _position(line: int, col: int) -> dict:
    return {"row": line, "column": col}


def diagnostic_dict(d: Diagnostic) -> dict:
    """The JSON schema documented in the README; keys are part of the interface."""
    fix = None
    if d.fix_safety is not None:
        fix = {
            "applicability": d.fix_safety.value,
            "applied": d.applied,
            "edits": [{"content": e.content, "cell": e.cell,
                       "location": _position(e.line, e.col),
                       "end_location": _position(e.end_line, e.end_col)} for e in d.fix_edits],
        }
    return {
        "code": d.code,
        "severity": d.severity.value,
        "message": d.message,
        "filename": d.path,
        "cell": d.cell,
        "location": _position(d.line, d.col),
        "end_location": _position(d.end_line, d.end_col),
        "fix": fix,
    }


def as_sarif(diagnostics: list[Diagnostic]) -> str:
    """One SARIF 2.1.0 run with every rule's metadata, as GitHub code scanning reads it."""
    rules = all_rules()
    rule_index = {code: index for index, code in enumerate(rules)}
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "gradfix",
                "version": __version__,
                "rules": [_sarif_rule(rule) for rule in rules.values()],
            }},
            "columnKind": "unicodeCodePoints",
            "results": [_sarif_result(d, rule_index.get(d.code)) for d in diagnostics],
        }],
    }
    return json.dumps(log, indent=2)


def _sarif_rule(rule) -> dict:
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "help": {"text": rule.explanation.strip(), "markdown": rule.explanation.strip()},
        "defaultConfiguration": {"level": SARIF_LEVEL[rule.severity]},
        "properties": {"fix": rule.fix_safety.value, "tags": ["gradients", "tensorflow", "keras"]},
    }


def _uri(path: str) -> str:
    pure = PurePath(path)
    return Path(path).resolve().as_uri() if pure.is_absolute() else pure.as_posix()


def _region(line: int, col: int, end_line: int, end_col: int) -> dict:
    return {"startLine": line, "startColumn": col, "endLine": end_line, "endColumn": end_col}


def _sarif_result(d: Diagnostic, rule_index: int | None) -> dict:
    """A notebook finding points at the notebook file; its cell position is in the message and properties,
    since line numbers of the notebook's JSON text would mean nothing to a reader."""
    artifact = {"uri": _uri(d.path)}
    result = {"ruleId": d.code, "level": SARIF_LEVEL[d.severity], "message": {"text": d.message}}
    if rule_index is not None:
        result["ruleIndex"] = rule_index
    if d.cell is None:
        physical = {"artifactLocation": artifact, "region": _region(d.line, d.col, d.end_line, d.end_col)}
        if d.fix_safety is not None and d.fix_edits:
            result["fixes"] = [_sarif_fix(d, artifact)]
    else:
        physical = {"artifactLocation": artifact}
        result["message"]["text"] = f"cell {d.cell}, line {d.line}: {d.message}"
        result["properties"] = {"cell": d.cell, "cellLine": d.line, "cellColumn": d.col}
    result["locations"] = [{"physicalLocation": physical}]
    return result


def _sarif_fix(d: Diagnostic, artifact: dict) -> dict:
    def replacement(edit: FixEdit) -> dict:
        return {"deletedRegion": _region(edit.line, edit.col, edit.end_line, edit.end_col),
                "insertedContent": {"text": edit.content}}

    how = "`gradfix apply`" if d.fix_safety is FixSafety.SAFE else "`gradfix apply --unsafe-fixes`"
    return {"description": {"text": f"{d.fix_safety.value} fix, applied by {how}"},
            "artifactChanges": [{"artifactLocation": artifact, "replacements": [replacement(e) for e in d.fix_edits]}],
            "properties": {"applicability": d.fix_safety.value}}


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_line(d: Diagnostic) -> str:
    """A GitHub Actions workflow command: the finding shows as an annotation on the pull request."""
    properties = [f"title=gradfix ({d.code})", f"file={_escape_property(d.path)}"]
    if d.cell is None:
        properties += [f"line={d.line}", f"col={d.col}", f"endLine={d.end_line}", f"endColumn={d.end_col}"]
    return f"::{GITHUB_COMMAND[d.severity]} {','.join(properties)}::{_escape_data(concise_line(d))}"


def render(diagnostics: list[Diagnostic], output_format: str, with_summary: bool = True) -> str:
    if output_format == "json":
        return as_json(diagnostics)
    if output_format == "sarif":
        return as_sarif(diagnostics)
    if output_format == "github":
        return "\n".join(map(github_line, diagnostics))
    if output_format == "concise":
        return "\n".join(map(concise_line, diagnostics))
    lines = [text_line(d) for d in diagnostics]
    if with_summary:
        lines.append(summary(diagnostics))
    return "\n".join(lines)
