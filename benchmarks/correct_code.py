"""Run gradfix over released, correct TF/Keras packages and print what it would change and report there.

The packages are well-tested code that trains: every file `apply --dry-run` would change is a false fix unless
it is one of the reviewed true findings of benchmarks/correct_code_known.toml (released code has bugs too; each
entry carries its measured evidence), and every finding must be classified by hand (true or false) before a
rule is called done. Prints one row per package: files, files a dry run changes (safe fixes, then with
--unsafe-fixes), of those the known true ones, findings by code and severity; then the known true findings
met. The findings themselves go to benchmarks/.cache/correct_code/<package>.json for that classification.

    python benchmarks/correct_code.py [--jobs N] [--only NAME ...]

Exit status 0 only when every file that would change is a known true finding.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tomllib
from pathlib import Path

from corpus import CACHE, fetch_packages

# Releases named by the project (pip download --no-deps); unversioned ones take the newest release.
CORRECT_PACKAGES = {
    "keras": "3.15.1", "tf-keras": "2.21.0", "transformers": "4.46.3", "keras-cv": "0.9.0",
    "keras-nlp": "0.12.1", "larq": None, "tf-agents": "0.19.0", "tensorflow-probability": None,
    "tensorflow-ranking": None, "tensorflow-recommenders": None, "tensorflow-gnn": None,
    "tensorflow-model-optimization": None,
}
RESULTS = CACHE / "correct_code"
KNOWN_TRUE = Path(__file__).resolve().parent / "correct_code_known.toml"


def known_true_findings() -> list[dict]:
    """The reviewed true findings: package folder (`name-version`), file inside it, code, evidence."""
    return tomllib.loads(KNOWN_TRUE.read_text(encoding="utf-8"))["finding"]


def is_known(path: str, known: list[dict]) -> bool:
    """Is a changed file (`keras_cv-0.9.0/keras_cv/...` as the diff names it) one of the known true findings?"""
    return any(path.removeprefix("b/") == f"{k['package']}/{k['file']}" for k in known)


def gradfix(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gradfix", *args], cwd=cwd, capture_output=True, text=True)


def changed_files(folder: Path, jobs: str, *extra: str) -> list[str]:
    """Files a dry run would rewrite: the `+++` headers of its unified diff."""
    done = gradfix("apply", "--dry-run", "--no-cache", "--jobs", jobs, *extra, folder.name, cwd=folder.parent)
    return [line[4:] for line in done.stdout.splitlines() if line.startswith("+++ ")]


def findings(folder: Path, jobs: str) -> list[dict]:
    done = gradfix("check", "--no-cache", "--jobs", jobs, "--output-format", "json", folder.name, cwd=folder.parent)
    return json.loads(done.stdout or "[]")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default="2", help="worker processes per run (default: 2)")
    parser.add_argument("--only", nargs="*", help="distribution names to run (default: all)")
    arguments = parser.parse_args()
    wanted = {name: v for name, v in CORRECT_PACKAGES.items() if not arguments.only or name in arguments.only}
    RESULTS.mkdir(parents=True, exist_ok=True)
    known = known_true_findings()
    print(f"{'package':<40} {'files':>6} {'changed':>8} {'unsafe':>7} {'known':>6}  findings (code/severity: count)")
    unexpected, met = [], []
    for folder in fetch_packages(wanted):
        found = findings(folder, arguments.jobs)
        (RESULTS / f"{folder.name}.json").write_text(json.dumps(found, indent=1), encoding="utf-8")
        safe, unsafe = changed_files(folder, arguments.jobs), changed_files(folder, arguments.jobs, "--unsafe-fixes")
        changed = sorted(set(safe) | set(unsafe))
        known_here = [path for path in changed if is_known(path, known)]
        counts = collections.Counter(f"{f['code']}/{f.get('severity', '?')}" for f in found)
        files = sum(1 for _ in folder.rglob("*.py"))
        summary = ", ".join(f"{key}: {n}" for key, n in sorted(counts.items())) or "-"
        print(f"{folder.name:<40} {files:>6} {len(safe):>8} {len(unsafe):>7} {len(known_here):>6}  {summary}",
              flush=True)
        for path in changed:
            print(f"    would change {path}{'  (known true finding)' if path in known_here else ''}")
        unexpected += [path for path in changed if path not in known_here]
        met += [k for k in known if k["package"] == folder.name and any(is_known(p, [k]) for p in known_here)]
    print(f"\nknown true findings ({KNOWN_TRUE.name}) among the changed files: {len(met)}")
    for entry in met:
        print(f"    {entry['package']}/{entry['file']} {entry['code']}: {' '.join(entry['evidence'].split())}")
    print(f"files that would change and are not known true findings: {len(unexpected)}  (findings in {RESULTS})")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
