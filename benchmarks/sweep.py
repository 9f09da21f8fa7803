"""Run `gradfix apply --dry-run` over the benchmark corpus (keras + transformers, see corpus.py) and check every
rewrite the safety net let through once more, independently: prints files scanned / changed / errors.

The corpus is correct, well-tested code: a fix proposed there is a false positive to look at, and an error is
a bug of ours (the safety net names the rule). Exit status 0 only when there are neither.

    python benchmarks/sweep.py [--jobs N]
"""

from __future__ import annotations

import argparse
import ast
import sys

from corpus import CORPUS, corpus_paths
from gradfix.analysis import ProjectIndex
from gradfix.config import load_config
from gradfix.engine import process_source
from gradfix.rules import select_rules
from gradfix.runner import RunOptions, chosen_codes, run, settings_for


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=0, help="worker processes (default: all cores)")
    jobs = parser.parse_args().jobs
    config = load_config(CORPUS)
    options = RunOptions(fix=True, jobs=jobs)
    report = run(corpus_paths(), options, config)
    changed = [r for r in report.results if r.changed]
    index = ProjectIndex.build(r.original.text for r in report.results)
    rules, settings = select_rules(*chosen_codes(options, config)), settings_for(options, config)
    problems = [(r.path, reason) for r in changed for reason in recheck(r, rules, settings, index)]
    for result in changed:
        codes = sorted({d.code for d in result.diagnostics if d.applied})
        print(f"changed  {result.path}  ({', '.join(codes)})")
    for path, reason in report.errors + problems:
        print(f"error    {path}: {reason}")
    scanned = len({r.path for r in report.results} | {path for path, _ in report.errors})
    errors = len(report.errors) + len(problems)
    print(f"files scanned: {scanned}   changed: {len(changed)}   errors: {errors}")
    return 1 if changed or errors else 0


def recheck(result, rules, settings, index) -> list[str]:
    """What the safety net promises about a rewritten file, checked again from the outside: it parses, and
    a second `apply` over it changes nothing."""
    fixed = result.fixed
    try:
        ast.parse(fixed.text)
    except SyntaxError as exc:
        return [f"rewritten file does not parse: {exc}"]
    again = process_source(result.path, fixed, rules, settings, index)
    return ["a second apply changes the rewritten file again"] if again.changed else []


if __name__ == "__main__":
    sys.exit(main())
