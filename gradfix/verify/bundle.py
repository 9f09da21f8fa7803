"""The verify child as files to run by path, in any interpreter that has TensorFlow — gradfix need not be installed.

The child is this package, copied under a private name (`_gradfix_verify`) next to a one-line launcher. That works
because every module here except `cli.py` imports its siblings relatively and nothing else of gradfix
(tests/verify/test_verify_bundle.py holds that); the copy also keeps gradfix off the user's `sys.path`."""

from __future__ import annotations

import shutil
from pathlib import Path

PACKAGE = "_gradfix_verify"
LAUNCHER = "gradfix_verify_child.py"
NOT_BUNDLED = ("cli.py",)  # the command line: gradfix's own interpreter only
_HERE = Path(__file__).resolve().parent


def bundled_modules() -> list[Path]:
    return sorted(path for path in _HERE.glob("*.py") if path.name not in NOT_BUNDLED)


def write_child(folder: Path) -> Path:
    """Copy the child into `folder`; returns the launcher, to run as `python LAUNCHER TARGET --result FILE ...`."""
    package = folder / PACKAGE
    package.mkdir()
    for module in bundled_modules():
        shutil.copyfile(module, package / module.name)
    launcher = folder / LAUNCHER
    launcher.write_text(f"from {PACKAGE}.child import main\n\nmain()\n", encoding="utf-8")
    return launcher
