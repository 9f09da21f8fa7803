"""Findings as text for people, and as stable JSON for editors and scripts."""

from __future__ import annotations

import json
from typing import Iterable

from gradfix.engine import Diagnostic
from gradfix.rules import FixSafety

FORMATS = ("text", "concise", "json")


def text_line(d: Diagnostic) -> str:
    marker = "[*] " if d.fix_safety is FixSafety.SAFE else ""
    return f"{d.path}:{d.line}:{d.col}: {d.code} {marker}{d.message}"


def concise_line(d: Diagnostic) -> str:
    return f"{d.path}:{d.line}:{d.col}: {d.code} {d.message}"


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


def diagnostic_dict(d: Diagnostic) -> dict:
    """The JSON schema documented in the README; keys are part of the interface."""
    fix = None
    if d.fix_safety is not None:
        fix = {
            "applicability": d.fix_safety.value,
            "applied": d.applied,
            "edits": [{"content": e.content,
                       "location": {"row": e.line, "column": e.col},
                       "end_location": {"row": e.end_line, "column": e.end_col}} for e in d.fix_edits],
        }
    return {
        "code": d.code,
        "message": d.message,
        "filename": d.path,
        "location": {"row": d.line, "column": d.col},
        "end_location": {"row": d.end_line, "column": d.end_col},
        "fix": fix,
    }


def render(diagnostics: list[Diagnostic], output_format: str, with_summary: bool = True) -> str:
    if output_format == "json":
        return as_json(diagnostics)
    if output_format == "concise":
        return "\n".join(map(concise_line, diagnostics))
    lines = [text_line(d) for d in diagnostics]
    if with_summary:
        lines.append(summary(diagnostics))
    return "\n".join(lines)
