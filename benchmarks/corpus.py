"""The benchmark corpus: the whole `transformers==4.46.3` package (its TF model files included) and the
`keras==3.15.1` package source, fetched with `pip download --no-deps` into benchmarks/.cache/ on first use.

Shared by bench.py and sweep.py, so both measure exactly the same files.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"
WHEELS = CACHE / "wheels"
CORPUS = CACHE / "corpus"
PACKAGES = {"transformers": "4.46.3", "keras": "3.15.1"}  # distribution -> version; the import name is the same
# A `[tool.gradfix]` table at the corpus root makes it the config root: runs over the corpus use default
# settings whatever the surrounding repository configures, and keep their cache in the corpus folder.
CONFIG = "[tool.gradfix]\n"


def corpus_paths() -> list[Path]:
    """The package folders to run on, downloading and unpacking the wheels when they are not there yet."""
    folders = [CORPUS / name for name in PACKAGES]
    if not all(folder.is_dir() for folder in folders):
        _fetch()
    (CORPUS / "pyproject.toml").write_text(CONFIG, encoding="utf-8")
    return folders


def python_files(folders: list[Path]) -> list[Path]:
    return sorted(p for folder in folders for p in folder.rglob("*.py"))


def _fetch() -> None:
    WHEELS.mkdir(parents=True, exist_ok=True)
    requirements = [f"{name}=={version}" for name, version in PACKAGES.items()]
    print(f"downloading {' '.join(requirements)} into {WHEELS} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(WHEELS),
                    *requirements], check=True)
    for name, version in PACKAGES.items():
        (wheel,) = WHEELS.glob(f"{name}-{version}-*.whl")
        with zipfile.ZipFile(wheel) as archive:
            members = [m for m in archive.namelist() if m.startswith(f"{name}/")]
            archive.extractall(CORPUS, members)


def fetch_packages(packages: dict[str, str | None]) -> list[Path]:
    """One folder per distribution (`name-version`, its wheel's files) under benchmarks/.cache/packages/,
    downloaded with `pip download --no-deps` on first use. The wheel's `*.dist-info` is kept, as pip installs
    it beside the package: gradfix reads the Keras a distribution declares from it (gradfix.pins). A
    `[tool.gradfix]` table at that root keeps the runs on default settings."""
    root = CACHE / "packages"
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(CONFIG, encoding="utf-8")
    folders = []
    for name, version in packages.items():
        stem = name.replace("-", "_")
        wheels = sorted(WHEELS.glob(f"{stem}-{version or '*'}-*.whl"))
        if not wheels:
            requirement = f"{name}=={version}" if version else name
            print(f"downloading {requirement} into {WHEELS} ...", file=sys.stderr)
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(WHEELS),
                            requirement], check=True)
            wheels = sorted(WHEELS.glob(f"{stem}-{version or '*'}-*.whl"))
        wheel = wheels[-1]
        folder = root / "-".join(wheel.name.split("-")[:2])
        if not any(folder.glob("*.dist-info")):  # new, or unpacked before the metadata was kept
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(folder)
        folders.append(folder)
    return folders
