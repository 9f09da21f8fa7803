"""docs/rules.md is the `gradfix explain` text of every rule, regenerated with `python -m gradfix.docs`."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from gradfix.cli import app
from gradfix.docs import RULES_PAGE, SECTIONS, explain_text, missing_sections, rules_markdown
from gradfix.rules import all_rules

RULES = all_rules()
FENCED_CODE = re.compile(r"```.*?```", re.DOTALL)


def test_rules_page_is_up_to_date():
    assert RULES_PAGE.read_text(encoding="utf-8") == rules_markdown(list(RULES.values())), \
        "docs/rules.md is stale: run `python -m gradfix.docs`"


@pytest.mark.parametrize("code", list(RULES))
def test_explanation_has_every_promised_section(code):
    assert missing_sections(RULES[code]) == [], f"{code}'s explanation must have {SECTIONS}"


@pytest.mark.parametrize("code", list(RULES))
def test_explain_prints_the_text_of_the_page(code):
    result = CliRunner().invoke(app, ["explain", code.lower()])
    assert result.exit_code == 0
    assert result.stdout == explain_text(RULES[code]) + "\n"
    page_section = RULES_PAGE.read_text(encoding="utf-8").split(f"\n## {code}\n", 1)[1].split("\n## GF", 1)[0]
    assert RULES[code].summary in page_section and "### Keras 3 vs Keras 2" in page_section
    for code_block in FENCED_CODE.findall(RULES[code].explanation):
        assert code_block in page_section, "examples are copied verbatim (a `# before` comment is no heading)"


def test_rules_table_lists_code_name_severity_and_fix():
    lines = CliRunner().invoke(app, ["rules"]).stdout.splitlines()
    assert lines[0].split()[:4] == ["code", "name", "severity", "fix"]
    rows = {line.split()[0]: line.split()[1:4] for line in lines[1:]}
    assert rows == {code: [rule.name, rule.severity.value, rule.fix_safety.value] for code, rule in RULES.items()}
    assert rows["GF302"][1] == "info"
