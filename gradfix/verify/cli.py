"""The `gradfix verify` command; the main CLI adds it with `register(app)`. Importing this module is cheap:
the runner and rich load when the command runs, TensorFlow only in the child process."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

if TYPE_CHECKING:
    from gradfix.config import Config

EXIT_CANNOT_RUN = 2


class KerasChoice(str, Enum):
    auto = "auto"
    keras3 = "3"
    keras2 = "2"


class VerifyFormat(str, Enum):
    text = "text"
    json = "json"


def _config(target: str) -> Config:
    """The settings in the pyproject.toml above the target's file (or the cwd for a module target)."""
    from gradfix.config import load_config

    file_part = target.split("::")[0]
    start = Path(file_part) if file_part.endswith(".py") else Path.cwd()
    return load_config(start if start.exists() else Path.cwd())


def configured_keras(target: str) -> str:
    return _config(target).target_keras


def interpreter(option: str | None, config: Config) -> str | None:
    """The Python to run targets with: `--python`, else `[tool.gradfix.verify] python`, else None (gradfix's)."""
    from gradfix.verify.runner import find_python

    if option:
        return find_python(option, Path.cwd())
    return find_python(config.verify_python, config.root) if config.verify_python else None


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)


def verify(
    target: str = typer.Argument(..., help="script.py, file.py::factory or package.module:factory; a factory "
                                           "returns (model, inputs), (model, inputs, loss_fn) or a model with "
                                           "keras.Input inputs."),
    keras: Optional[KerasChoice] = typer.Option(None, "--keras",
                                                help="3, 2 (tf_keras: sets TF_USE_LEGACY_KERAS=1) or auto (as the "
                                                     "environment says); default: \\[tool.gradfix] target-keras."),
    timeout: float = typer.Option(300.0, "--timeout", help="Seconds before the target is killed."),
    output_format: VerifyFormat = typer.Option(VerifyFormat.text, "--output-format"),
    seed: int = typer.Option(0, "--seed", help="Seed for Python, numpy and TensorFlow random numbers."),
    python: Optional[str] = typer.Option(None, "--python",
                                         help="The interpreter to run the target with: the project's own, with "
                                              "TensorFlow (gradfix need not be installed there); default: "
                                              "\\[tool.gradfix.verify] python, else gradfix's own."),
    plot: Optional[Path] = typer.Option(None, "--plot",
                                        help="Also draw the gradient flow per weight into this .png or .svg file "
                                             "(needs matplotlib: pip install 'gradfix\\[plot]')."),
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

        config = _config(target)
        if plot is not None:
            from gradfix.verify.plot import check_plot_path

            check_plot_path(plot)
        outcome = run_verify(target, keras=keras.value if keras else config.target_keras, timeout=timeout,
                             seed=seed, python=interpreter(python, config))
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
    if plot is not None:
        _write_plot(outcome, plot)
    raise typer.Exit(outcome.exit_code)


def _write_plot(outcome, path: Path) -> None:
    from gradfix.verify.plot import write_plot

    try:
        write_plot(outcome, path)
    except Exception as exc:  # the report is printed already; the plot alone failed
        typer.echo(f"gradfix verify: error: cannot write the plot {path}: {exc}", err=True)
        raise typer.Exit(EXIT_CANNOT_RUN)
    typer.echo(f"gradient flow plot: {path}", err=True)
