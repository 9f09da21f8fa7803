"""Which Keras a project declares it runs on, read from its dependency pins, for `target-keras = "auto"`.

`tf-keras` among the dependencies, TensorFlow held below 2.16 (the last release whose `tf.keras` is
Keras 2) or `keras` below 3 means Keras 2: bare `tf.Variable`s and `tf.Module`s are tracked there, so code
that relies on it is correct. Read from the project's folder: pyproject.toml ([project] dependencies and
optional dependencies), setup.cfg and setup.py (install_requires), requirements*.txt, and the metadata a
build leaves there (PKG-INFO, *.egg-info/requires.txt); and, for code that is an installed or unpacked
distribution (site-packages, a wheel's files), from that distribution's `*.dist-info/METADATA` next to its
package. Extras count (`tensorflow~=2.15.0; extra == 'reverb'` is the package saying which TF it runs on),
except those for development, tests or docs (gradfix itself tests under both Kerases). Nothing is imported
or installed; a pin that cannot be read says nothing. Every answer is cached per folder.
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
    r"""(?:^|["'\s,\[])(tf[-_]keras|tensorflow(?:[-_](?:cpu|gpu|macos))?|keras)(?![-_.\w])"""  # a whole name
    r"""\s*((?:\[[^\]]*\])?\s*\(?\s*[<>=!~][^;"'\n#)]*)?""",  # extras, then specifiers (PEP 345 parenthesised)
    re.IGNORECASE | re.MULTILINE)
_INSTALL_REQUIRES = re.compile(r"install_requires\s*=\s*\[([^\]]*)\]")
_DEVELOPMENT = re.compile(r"[-_.](?:dev|develop|tests?|docs?|lint|ci)[-_.]", re.IGNORECASE)  # requirements-dev.txt
# An extra for development, tests or docs: `dev`, `tests`, `dev-tensorflow`, `docs`.
_DEVELOPMENT_EXTRA = re.compile(r"^(?:dev|develop|tests?|testing|docs?|lint|ci)(?:$|[-_.])", re.IGNORECASE)
_EXTRA_MARKER = re.compile(r"""extra\s*==\s*["']([^"']*)["']""")
_UPPER_BOUND = re.compile(r"(<=?|==|~=)\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?")


@lru_cache(maxsize=64)
def declared_keras(project: Path) -> str | None:
    """"2" when the project's pins say Keras 2, else None (nothing declared, or Keras 3)."""
    return KERAS_2 if any(_says_keras_2(text) for text in _requirement_texts(project)) else None


def distribution_keras(path: Path) -> str | None:
    """"2" when the installed or unpacked distribution the file belongs to declares Keras 2 in its metadata:
    the `*.dist-info` (or `*.egg-info`) beside the file's top-level package, as pip and wheels lay them out."""
    package = _top_package(path.absolute().parent)
    return _package_keras(package.parent, package.name) if package is not None else None


@lru_cache(maxsize=1024)
def _top_package(folder: Path) -> Path | None:
    """The outermost folder with an `__init__.py` that holds `folder`, or None when `folder` is no package."""
    if not (folder / "__init__.py").is_file():
        return None
    return _top_package(folder.parent) or folder if folder.parent != folder else folder


@lru_cache(maxsize=256)
def _package_keras(site: Path, package: str) -> str | None:
    texts = [_metadata_requirements(_read(info / "METADATA")) + _egg_requirements(_read(info / "requires.txt"))
             for info in _metadata_folders(site, package)]
    return KERAS_2 if any(_says_keras_2(text) for text in texts) else None


def _metadata_folders(site: Path, package: str) -> list[Path]:
    """The `*.dist-info`/`*.egg-info` folders in `site` of the distribution that installs `package`: named
    after it (`tf_agents-0.19.0.dist-info`), or listing it in their top_level.txt."""
    folders = []
    for info in (*site.glob("*.dist-info"), *site.glob("*.egg-info")):
        name = re.split(r"-\d", info.name.rsplit(".", 1)[0], maxsplit=1)[0]
        if _normalised(name) == _normalised(package) or package in _read(info / "top_level.txt").split():
            folders.append(info)
    return folders


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _metadata_requirements(text: str) -> str:
    """The `Requires-Dist` lines of a METADATA/PKG-INFO file, without those of development extras."""
    if "Requires-Dist" not in text:
        return ""
    requirements = [value for name, value in _headers(text) if name.lower() == "requires-dist"]
    return "\n".join(r for r in requirements
                     if not any(_DEVELOPMENT_EXTRA.match(extra) for extra in _EXTRA_MARKER.findall(r)))


def _headers(text: str) -> list[tuple[str, str]]:
    """The (name, value) header fields of a METADATA/PKG-INFO file (RFC 822: up to the first blank line, a
    line starting with white space continues the field before it); what `email.parser` reads, without its
    import on every run."""
    fields: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line:
            break
        if line[0] in " \t" and fields:
            fields[-1] = (fields[-1][0], f"{fields[-1][1]} {line.strip()}")
        elif ":" in line:
            name, value = line.split(":", 1)
            fields.append((name.strip(), value.strip()))
    return fields


def _egg_requirements(text: str) -> str:
    """requires.txt of an egg-info: requirements, then `[extra]` or `[extra:marker]` sections."""
    kept, extra = [], ""
    for line in text.splitlines():
        if line.startswith("["):
            extra = line.strip("[]").split(":", 1)[0]
        elif not _DEVELOPMENT_EXTRA.match(extra):
            kept.append(line)
    return "\n".join(kept)


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
    texts.append(_metadata_requirements(_read(project / "PKG-INFO")))
    texts += [_egg_requirements(_read(info / "requires.txt"))
              for info in (*project.glob("*.egg-info"), *project.glob("src/*.egg-info"))]
    try:
        table = tomllib.loads(_read(project / "pyproject.toml")).get("project")
    except tomllib.TOMLDecodeError:
        return texts
    dependencies = table.get("dependencies") if isinstance(table, dict) else None
    if isinstance(dependencies, list):
        texts.append("\n".join(r for r in dependencies if isinstance(r, str)))
    extras = table.get("optional-dependencies") if isinstance(table, dict) else None
    for extra, requirements in (extras.items() if isinstance(extras, dict) else ()):
        if isinstance(requirements, list) and not _DEVELOPMENT_EXTRA.match(extra):
            texts.append("\n".join(r for r in requirements if isinstance(r, str)))
    return texts


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _says_keras_2(text: str) -> bool:
    for name, specifiers in _REQUIREMENT.findall(text):
        name = name.lower().replace("_", "-")
        if name == "tf-keras":
            return True
        if specifiers and (_below(specifiers, (3, 0, 0)) if name == "keras" else _below(specifiers, (2, 16, 0))):
            return True
    return False


def _below(specifiers: str, limit: tuple[int, int, int]) -> bool:
    """Does a specifier hold the version below `limit` (for TensorFlow 2.16: `<2.16`, `<=2.15.1`, `==2.15.*`,
    `~=2.13.0`)? `~=2.13` allows every 2.x and says nothing."""
    for operator, major, minor, patch in _UPPER_BOUND.findall(specifiers):
        version = (int(major), int(minor or 0), int(patch or 0))
        if operator == "~=" and not patch:
            continue
        if version < limit or operator == "<" and version == limit:
            return True
    return False
