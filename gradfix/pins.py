"""Which Keras a project declares it runs on, read from its dependency pins, for `target-keras = "auto"`.

`tf-keras` among the dependencies, or TensorFlow held below 2.16 (the last release whose `tf.keras` is
Keras 2), means Keras 2: bare `tf.Variable`s and `tf.Module`s are tracked there, so code that relies on it
is correct. Read from pyproject.toml ([project] dependencies), setup.cfg and setup.py (install_requires) and
requirements*.txt (not those for development, tests or docs) in the project's folder. Nothing is imported or
installed; a pin that cannot be read says nothing.
"""

from __future__ import annotations

import configparser
import re
import tomllib
from functools import lru_cache
from pathlib import Path

KERAS_2 = "2"
# A requirement string: a name, then its version specifiers up to a marker, extra or end of line.
_REQUIREMENT = re.compile(
    r"""(?:^|["'\s,\[])(tf[-_]keras|tensorflow(?:[-_](?:cpu|gpu|macos))?)"""  # the name, not a longer one's tail
    r"""\s*((?:\[[^\]]*\])?\s*[<>=!~][^;"'\n#]*)?""",  # extras, then version specifiers up to a marker
    re.IGNORECASE | re.MULTILINE)
_INSTALL_REQUIRES = re.compile(r"install_requires\s*=\s*\[([^\]]*)\]")
_DEVELOPMENT = re.compile(r"[-_.](?:dev|develop|tests?|docs?|lint|ci)[-_.]", re.IGNORECASE)  # requirements-dev.txt
_UPPER_BOUND = re.compile(r"(<=?|==|~=)\s*(\d+)\.(\d+)(?:\.(\d+))?")


@lru_cache(maxsize=64)
def declared_keras(project: Path) -> str | None:
    """"2" when the project's pins say Keras 2, else None (nothing declared, or Keras 3)."""
    return KERAS_2 if any(_says_keras_2(text) for text in _requirement_texts(project)) else None


def _requirement_texts(project: Path) -> list[str]:
    """The project's run-time requirements, as text: development and test extras say nothing about the Keras
    the code is written for (gradfix itself tests under both)."""
    texts = [_read(path) for path in sorted(project.glob("requirements*.txt"))
             if not _DEVELOPMENT.search(path.name)]
    setup_cfg = configparser.ConfigParser(interpolation=None)
    try:
        setup_cfg.read_string(_read(project / "setup.cfg"))
        texts.append(setup_cfg.get("options", "install_requires", fallback=""))
    except configparser.Error:
        pass
    texts += _INSTALL_REQUIRES.findall(_read(project / "setup.py"))
    try:
        table = tomllib.loads(_read(project / "pyproject.toml")).get("project")
    except tomllib.TOMLDecodeError:
        return texts
    dependencies = table.get("dependencies") if isinstance(table, dict) else None
    if isinstance(dependencies, list):
        texts.append("\n".join(r for r in dependencies if isinstance(r, str)))
    return texts


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _says_keras_2(text: str) -> bool:
    for name, specifiers in _REQUIREMENT.findall(text):
        if name.lower().replace("_", "-") == "tf-keras":
            return True
        if specifiers and _below_2_16(specifiers):
            return True
    return False


def _below_2_16(specifiers: str) -> bool:
    """Does a specifier hold TensorFlow below 2.16 (`<2.16`, `<=2.15.1`, `==2.15.*`, `~=2.13.0`)? `~=2.13`
    allows every 2.x and says nothing."""
    for operator, major, minor, patch in _UPPER_BOUND.findall(specifiers):
        version = (int(major), int(minor), int(patch or 0))
        if operator == "~=" and not patch:
            continue
        if version < (2, 16, 0) or operator == "<" and version == (2, 16, 0):
            return True
    return False
