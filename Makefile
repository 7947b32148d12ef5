# camsentry: `make demo` runs the whole system on one machine; `make test` runs every check.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck pytest bench clean system-packages fuzz

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $(STAMP)

system-packages:
	bash deploy/system-packages.sh

demo: system-packages $(STAMP)
	$(PY) -m simulator.demo $(if $(SERVE),--serve)

lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP)
	$(VENV)/bin/pytest

test: lint typecheck pytest

bench: $(STAMP)
	for b in bench/bench_*.py; do $(PY) -m bench.$$(basename $$b .py) || exit 1; done

# Coverage-guided fuzzing (atheris) of every parser that reads a peer's or an operator's bytes,
# FUZZ_SECONDS each; docs/fuzzing.md records how long each has run clean.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = envelope receipt command enrol soap ws_discovery dns conntrack agent_config collector_config policy enforce_state
fuzz: $(STAMP)
	for t in $(FUZZ_TARGETS); do $(PY) -m tests.fuzz.run $$t --seconds $(FUZZ_SECONDS) || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
