"""The rules install as `gradfix.codemods` (pyproject.toml maps the repository's codemods/ folder there): no
generic top-level `codemods` package may land in site-packages, and no package of gradfix may be left out of the
wheel (pyproject.toml lists them)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_this_environment_imports_the_rules_as_gradfix_codemods(tmp_path):
    """Outside the repository (so the folder itself is not on sys.path), as an installed user would."""
    code = ("import importlib.util, gradfix.codemods\n"
            "from gradfix.rules import all_rules\n"
            "assert importlib.util.find_spec('codemods') is None, 'a top-level codemods package is installed'\n"
            "print(sorted({c.__module__.rpartition('.')[0] for c in all_rules().values()}))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['gradfix.codemods']"


def test_the_wheel_holds_gradfix_codemods_and_no_top_level_codemods(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path),
                            str(ROOT)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    wheel, = tmp_path.glob("gradfix-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"gradfix", wheel.name.split("-py")[0] + ".dist-info"}
    rules = {f"gradfix/codemods/{path.name}" for path in (ROOT / "codemods").glob("*.py")}
    assert rules <= set(names)
    packages = {f"gradfix/{path.relative_to(ROOT / 'gradfix').as_posix()}"
                for path in (ROOT / "gradfix").rglob("__init__.py")}
    assert packages <= set(names), "a package of gradfix is missing from pyproject.toml's list"
