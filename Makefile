# Every target creates the virtualenv itself, so a fresh clone needs nothing but python3 and make.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast bench sweep correct-code clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

GRADFIX := $(abspath $(VENV))/bin/gradfix

## Run gradfix on the bundled broken example project: findings, dry-run diff, apply to a copy, verify before/after.
demo: $(STAMP)
	@set -e; copy=$$(mktemp -d)/demo; cp -r fixtures/demo $$copy; \
	echo "== 1/6  gradfix check fixtures/demo"; \
	$(GRADFIX) check fixtures/demo || true; \
	echo; echo "== 2/6  gradfix apply --dry-run fixtures/demo   (review: nothing is written)"; \
	$(GRADFIX) apply --dry-run fixtures/demo 2>&1; \
	echo; echo "== 3/6  gradfix apply $$copy   (a temporary copy)"; \
	(cd $$copy && $(GRADFIX) apply .); \
	echo; echo "== 4/6  the repaired layer"; \
	sed -n '/^class ScaledDense/,/^class Regressor/p' $$copy/model.py; \
	echo "== 5/6  gradfix verify fixtures/demo/model.py::make   (before: numpy cuts the hidden layer out)"; \
	$(GRADFIX) verify fixtures/demo/model.py::make || true; \
	echo; echo "== 6/6  gradfix verify $$copy/train.py   (after: the training script, instrumented)"; \
	$(GRADFIX) verify $$copy/train.py

## The whole test suite (TensorFlow tests included), two workers.
test: $(STAMP)
	$(PY) -m pytest -n 2 -q

## Static tests only (no TensorFlow): seconds.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not tf"

## Speed on keras + transformers, then on tf-keras + tf-agents (downloaded into benchmarks/.cache/ on first use); two tables.
bench: $(STAMP)
	$(PY) benchmarks/bench.py
	$(PY) benchmarks/bench.py --corpus tensorflow

## apply --dry-run + the safety net over the same corpus: files scanned / changed / errors.
sweep: $(STAMP)
	$(PY) benchmarks/sweep.py

## apply --dry-run (safe, then unsafe fixes) and check over 12 released TF/Keras packages: every file it would change
## must be a reviewed true finding (benchmarks/correct_code_known.toml).
correct-code: $(STAMP)
	$(PY) benchmarks/correct_code.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .gradfix
