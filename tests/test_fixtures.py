"""Every fixture pair under fixtures/<CODE>/ is a test; adding a case needs no test code.

- `name.py` + `name.expected.py`: the rule reports `name.py`, gradfix rewrites it to exactly
  `name.expected.py`, and a second run over the result changes nothing.
- `must_not_change/name.py`: gradfix leaves the file byte-identical and reports nothing of the rule,
  except the codes listed on a line `# expected-findings: GF302`.
"""

from __future__ import annotations

import re

import pytest

from conftest import FIXTURES, fixed_text, run_on_text

EXPECTED_FINDINGS = re.compile(r"#\s*expected-findings:\s*([\w ,]+)")


def _cases(kind: str):
    for rule_folder in sorted(p for p in FIXTURES.iterdir() if p.is_dir() and p.name.startswith("GF")):
        if kind == "fix":
            for before in sorted(rule_folder.glob("*.py")):
                if not before.name.endswith(".expected.py"):
                    yield pytest.param(rule_folder.name, before, id=f"{rule_folder.name}/{before.stem}")
        else:
            for case in sorted((rule_folder / "must_not_change").glob("*.py")):
                yield pytest.param(rule_folder.name, case, id=f"{rule_folder.name}/{case.stem}")


def _options(text: str) -> dict:
    return {"unsafe_fixes": "# gradfix-fixture: unsafe-fixes" in text}


@pytest.mark.parametrize("code, before", list(_cases("fix")))
def test_fixture_is_fixed(code, before):
    text = before.read_text(encoding="utf-8")
    expected = before.with_name(before.stem + ".expected.py").read_text(encoding="utf-8")
    report = run_on_text(text, name=before.name, **_options(text))
    assert not report.errors, report.errors
    assert code in {d.code for d in report.diagnostics}, "the rule did not report its own fixture"
    after = report.results[0].fixed.text if report.results[0].fixed else text
    assert after == expected
    assert fixed_text(after, **_options(text)) == after, "a second run changed the file again"


@pytest.mark.parametrize("code, case", list(_cases("must_not_change")))
def test_fixture_must_not_change(code, case):
    text = case.read_text(encoding="utf-8")
    report = run_on_text(text, name=case.name, **_options(text))
    assert not report.errors, report.errors
    assert report.results[0].fixed is None, "gradfix rewrote code that must not change"
    allowed = {c.strip() for m in EXPECTED_FINDINGS.findall(text) for c in m.split(",")}
    unexpected = [f"{d.line}: {d.code} {d.message}" for d in report.diagnostics if d.code not in allowed]
    assert not unexpected


def test_every_rule_has_fixtures():
    from gradfix.rules import all_rules

    for code in all_rules():
        folder = FIXTURES / code
        assert any(folder.glob("*.py")) or any((folder / "must_not_change").glob("*.py")), code
        assert any((folder / "must_not_change").glob("*.py")), f"{code} has no must_not_change case"
