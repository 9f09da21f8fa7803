"""Every fixture under fixtures/<CODE>/ is a test; adding a case needs no test code.

- `name.py` + `name.expected.py`: gradfix rewrites `name.py` to exactly `name.expected.py`, and a second run
  over the result changes nothing. A `name.py` without `name.expected.py` is broken code that its rule only
  reports: the file stays byte-identical, and its `.findings` say what is reported.
- `must_not_change/name.py`: gradfix leaves the file byte-identical.
- `name.findings` next to every `name.py` (both kinds): exactly the findings gradfix reports on `name.py`, one
  `line:col CODE message` per line (an empty file: none), so report-only rules are tested positively and a
  rule that reports nothing fails. `GRADFIX_UPDATE_SNAPSHOTS=1` writes them from what gradfix reports
  (read the diff before committing it: it is what the rules say, not what is right).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import FIXTURES, fixed_text, run_on_text

UPDATE_SNAPSHOTS = os.environ.get("GRADFIX_UPDATE_SNAPSHOTS") == "1"

# Fixtures whose findings file leaves out a finding the rules report today that is wrong; the test is
# expected to fail until the rule stops reporting it (strict: it then passes, and the entry must go).
KNOWN_WRONG_FINDINGS: dict[str, str] = {}


def _cases(kind: str):
    for rule_folder in sorted(p for p in FIXTURES.iterdir() if p.is_dir() and p.name.startswith("GF")):
        folder = rule_folder if kind == "fix" else rule_folder / "must_not_change"
        for case in sorted(folder.glob("*.py")):
            if not case.name.endswith(".expected.py"):
                case_id = f"{rule_folder.name}/{'' if kind == 'fix' else 'must_not_change/'}{case.stem}"
                marks = [pytest.mark.xfail(strict=True, reason=KNOWN_WRONG_FINDINGS[case_id])] \
                    if case_id in KNOWN_WRONG_FINDINGS and not UPDATE_SNAPSHOTS else []
                yield pytest.param(rule_folder.name, case, id=case_id, marks=marks)


def _options(text: str) -> dict:
    return {"unsafe_fixes": "# gradfix-fixture: unsafe-fixes" in text}


def findings_lines(diagnostics) -> list[str]:
    """The `.findings` form of a run's findings: `line:col CODE message` (1-based, columns in characters)."""
    return [f"{d.line}:{d.col} {d.code} {d.message}".replace("\n", "\\n") for d in diagnostics]


def _compare_findings(case: Path, report) -> None:
    snapshot = case.with_suffix(".findings")
    found = findings_lines(report.diagnostics)
    if UPDATE_SNAPSHOTS:
        snapshot.write_text("".join(f"{line}\n" for line in found), encoding="utf-8")
    assert snapshot.exists(), f"{snapshot.name} is missing: run with GRADFIX_UPDATE_SNAPSHOTS=1 and check it"
    assert found == snapshot.read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("code, before", list(_cases("fix")))
def test_fixture_is_fixed(code, before):
    text = before.read_text(encoding="utf-8")
    expected_file = before.with_name(before.stem + ".expected.py")
    expected = expected_file.read_text(encoding="utf-8") if expected_file.exists() else text  # report-only
    report = run_on_text(text, name=before.name, **_options(text))
    assert not report.errors, report.errors
    assert code in {d.code for d in report.diagnostics}, "the rule did not report its own fixture"
    _compare_findings(before, report)
    after = report.results[0].fixed.text if report.results[0].fixed else text
    assert after == expected
    assert fixed_text(after, **_options(text)) == after, "a second run changed the file again"


@pytest.mark.parametrize("code, case", list(_cases("must_not_change")))
def test_fixture_must_not_change(code, case):
    text = case.read_text(encoding="utf-8")
    report = run_on_text(text, name=case.name, **_options(text))
    assert not report.errors, report.errors
    assert report.results[0].fixed is None, "gradfix rewrote code that must not change"
    _compare_findings(case, report)


def test_every_rule_has_fixtures():
    from gradfix.rules import all_rules

    for code in all_rules():
        folder = FIXTURES / code
        assert any(folder.glob("*.py")) or any((folder / "must_not_change").glob("*.py")), code
        assert any((folder / "must_not_change").glob("*.py")), f"{code} has no must_not_change case"


def test_every_rule_reports_in_some_fixture():
    """A rule whose check() yields nothing cannot pass: some fixture's findings name it."""
    from gradfix.rules import all_rules

    named = {line.split()[1] for snapshot in FIXTURES.glob("GF*/**/*.findings")
             for line in snapshot.read_text(encoding="utf-8").splitlines()}
    assert not [code for code in all_rules() if code not in named]


def test_no_findings_file_without_its_fixture():
    orphans = [p for p in FIXTURES.glob("GF*/**/*.findings") if not p.with_suffix(".py").exists()]
    assert not orphans


@pytest.mark.parametrize("code, before", [case for case in _cases("fix")
                                          if case.values[1].with_name(case.values[1].stem + ".expected.py").exists()])
def test_suggestions_read_as_the_fixed_code(code, before):
    """A fixable finding's "use `code`" is what the file reads once fixed: never an intermediate form (an inner
    call translated that the fix keeps, a `.numpy()` left inside)."""
    import re

    expected = " ".join(before.with_name(before.stem + ".expected.py").read_text(encoding="utf-8").split())
    for line in before.with_suffix(".findings").read_text(encoding="utf-8").splitlines():
        for suggestion in re.findall(r"; use `([^`]+)`", line):
            if not suggestion.endswith("(...)"):
                assert " ".join(suggestion.split()) in expected, line
