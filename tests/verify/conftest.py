"""Helpers for the verify tests: the fixture models, and `gradfix verify` invoked through typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from gradfix.verify.cli import register


@pytest.fixture(scope="session")
def verify_models() -> Path:
    return Path(__file__).resolve().parents[1] / "verify_models"


@pytest.fixture(scope="session")
def gradfix_verify():
    """`gradfix_verify(*args)` → (exit code, stdout, the JSON outcome when `--output-format json` is given)."""
    app, runner = typer.Typer(), CliRunner()
    register(app)
    app.callback()(lambda: None)  # keeps `verify` a sub-command, as in the real CLI

    def invoke(*args: str):
        result = runner.invoke(app, ["verify", *args])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        return result.exit_code, result.stdout, json.loads(result.stdout) if "json" in args else None

    return invoke
