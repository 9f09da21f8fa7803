"""The verify child as files to run by path, in any interpreter that has TensorFlow — gradfix need not be installed.

The child is the modules it needs, copied under a private package name (`_gradfix_verify`) next to a one-line
launcher. That works because they import one another relatively and nothing else of gradfix
(tests/verify/test_verify_python.py holds that); the copy also keeps gradfix off the user's `sys.path`."""

from __future__ import annotations

import shutil
from pathlib import Path

PACKAGE = "_gradfix_verify"
LAUNCHER = "gradfix_verify_child.py"
# what runs in the child; the rest of the package (cli, runner, change, render, plot) runs in gradfix's process
CHILD_MODULES = ("__init__", "child", "cuts", "frames", "instrument", "overlay", "probe", "report", "targets")
_HERE = Path(__file__).resolve().parent


def bundled_modules() -> list[Path]:
    return [_HERE / f"{name}.py" for name in CHILD_MODULES]


def write_child(folder: Path) -> Path:
    """Copy the child into `folder`; returns the launcher, to run as `python LAUNCHER TARGET --result FILE ...`."""
    package = folder / PACKAGE
    package.mkdir()
    for module in bundled_modules():
        shutil.copyfile(module, package / module.name)
    launcher = folder / LAUNCHER
    launcher.write_text(f"from {PACKAGE}.child import main\n\nmain()\n", encoding="utf-8")
    return launcher
