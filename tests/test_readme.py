"""The README's rule table and commands stay true to the code."""

from __future__ import annotations

import re

from conftest import ROOT
from gradfix.rules import all_rules

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_rule_table_lists_every_rule_with_its_name_and_fix():
    for code, rule in all_rules().items():
        assert f"| {code} | {rule.name} | {rule.fix_safety.value} |" in README, code


def test_the_two_commands_are_make_targets_and_ci_runs_the_test_one():
    makefile = (ROOT / "Makefile").read_text()
    for target in re.findall(r"^make (\w+)", README, re.MULTILINE):
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), target
    assert "make test" in (ROOT / ".ci" / "run").read_text()
