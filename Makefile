# Every target creates the virtualenv itself, so a fresh clone needs nothing but python3 and make.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast bench sweep clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Run gradfix on the bundled broken example project: dry-run diff, apply to a copy, verify before/after.
demo: $(STAMP)
	$(PY) scripts/demo.py

## The whole test suite (TensorFlow tests included), two workers.
test: $(STAMP)
	$(PY) -m pytest -n 2 -q

## Static tests only (no TensorFlow): seconds.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not tf"

bench: $(STAMP)
	$(PY) benchmarks/bench.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .gradfix
