"""The `gradfix verify` command; the main CLI adds it with `register(app)`. Importing this module is cheap:
the runner and rich load when the command runs, TensorFlow only in the child process."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

EXIT_CANNOT_RUN = 2


class KerasChoice(str, Enum):
    auto = "auto"
    keras3 = "3"
    keras2 = "2"


class VerifyFormat(str, Enum):
    text = "text"
    json = "json"


def configured_keras(target: str) -> str:
    """`target-keras` from the pyproject.toml above the target's file (or the cwd for a module target)."""
    from gradfix.config import load_config

    file_part = target.split("::")[0]
    start = Path(file_part) if file_part.endswith(".py") else Path.cwd()
    return load_config(start if start.exists() else Path.cwd()).target_keras


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)


def verify(
    target: str = typer.Argument(..., help="script.py, file.py::factory or package.module:factory; a factory "
                                           "returns (model, inputs) or (model, inputs, loss_fn)."),
    keras: Optional[KerasChoice] = typer.Option(None, "--keras",
                                                help="3, 2 (tf_keras: sets TF_USE_LEGACY_KERAS=1) or auto (as the "
                                                     "environment says); default: [tool.gradfix] target-keras."),
    timeout: float = typer.Option(300.0, "--timeout", help="Seconds before the target is killed."),
    output_format: VerifyFormat = typer.Option(VerifyFormat.text, "--output-format"),
    seed: int = typer.Option(0, "--seed", help="Seed for Python, numpy and TensorFlow random numbers."),
    strict: bool = typer.Option(False, "--strict", help="Fail on unused variables too (never read by the forward "
                                                        "pass, or their result never reaches the loss)."),
) -> None:
    """Run the model and show, variable by variable, whether gradients reach it.

    Exit 0 when every variable meant to train is tracked by Keras, in trainable_variables and gets a gradient
    (unused ones only warn, unless --strict) and no tape.gradient call of the target returned None for a source
    it cut off or for a tensor; 1 when not; 2 when the target cannot run.
    """
    try:
        from gradfix.verify.runner import run_verify

        outcome = run_verify(target, keras=keras.value if keras else configured_keras(target), timeout=timeout,
                             seed=seed)
    except Exception as exc:  # a clean line, never a traceback
        typer.echo(f"gradfix verify: error: {exc}", err=True)
        raise typer.Exit(EXIT_CANNOT_RUN)
    outcome.strict = strict
    if output_format is VerifyFormat.json:
        typer.echo(outcome.to_json())
    else:
        from rich.console import Console

        from gradfix.verify.render import PLAIN_WIDTH

        console = Console(highlight=False)
        if not console.is_terminal:  # logs and pipes: as wide as the plain-text rendering
            console.width = PLAIN_WIDTH
        console.print(outcome)
    raise typer.Exit(outcome.exit_code)
