"""Shared test helpers: run gradfix on text or files the way the CLI does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# CI (.ci/run) replays a fixed set of examples, so a landing never depends on what a random draw met that day;
# developers' runs draw new examples and keep what fails in .hypothesis/.
settings.register_profile("ci", derandomize=True, database=None)
settings.load_profile(os.environ.get("GRADFIX_HYPOTHESIS_PROFILE", "default"))

from gradfix.config import Config
from gradfix.runner import RunOptions, RunReport, run
from gradfix.source import SourceText

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


def run_on_text(text: str, name: str = "case.py", **options) -> RunReport:
    """Run every selected rule on `text` as if it were the file `name`; fixes applied in memory."""
    options.setdefault("fix", True)
    return run([Path(name)], RunOptions(jobs=1, **options), Config(), sources={Path(name): SourceText(text)})


def fixed_text(text: str, **options) -> str:
    result = run_on_text(text, **options).results[0]
    assert result.error is None, result.error
    return result.fixed.text if result.fixed else text


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run the test from an empty temporary folder (apply writes its undo record in the cwd)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
