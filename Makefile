# The two commands of the README: `make demo` and `make test`.
# Each creates the virtual environments it needs and installs what it needs:
#   .venv          the project with its test tools (ruff, mypy, pytest)
#   .venv-meltano  Meltano itself, kept apart from the project's own dependencies; Meltano then
#                  installs every plugin in its own environment under .meltano/
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MELTANO_VENV ?= .venv-meltano
MELTANO_SPEC ?= meltano[postgres]~=4.4.1

.PHONY: demo demo-sandbox test lint venv meltano

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(MELTANO_VENV)/.installed:
	$(PYTHON) -m venv $(MELTANO_VENV)
	$(MELTANO_VENV)/bin/python -m pip install --quiet '$(MELTANO_SPEC)'
	touch $@

venv: $(BIN)/.installed

meltano: $(MELTANO_VENV)/.installed

# The full pipeline: crm-sandbox -> meltano run into DuckDB -> reverse ETL from a CSV.
demo: venv meltano
	bash scripts/demo_meltano.sh

# Only crm-sandbox, answering for both APIs.
demo-sandbox: venv
	bash scripts/demo.sh

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy crm_api tap_crm target_crm crm_sandbox

test: lint meltano
	bash scripts/test.sh

# The one benchmark command (docs/performance.md): tap-crm and target-crm against crm-sandbox,
# beside a minimal Singer SDK tap and singer-io tap-pipedrive 2.1.0 (its own venv: old pins).
# Not part of `make test`. `bench` writes the table and chart into docs/; `bench-quick` only
# into output/bench/ (small sizes, a few minutes).
.PHONY: bench bench-quick
PEERS_VENV ?= .venv-peers
TAP_PIPEDRIVE_SPEC ?= tap-pipedrive==2.1.0

$(PEERS_VENV)/.installed:
	$(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install --quiet '$(TAP_PIPEDRIVE_SPEC)'
	touch $@

$(BIN)/.bench-installed: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $@

bench: $(BIN)/.bench-installed $(PEERS_VENV)/.installed
	$(BIN)/python benchmarks/bench.py --docs

bench-quick: $(BIN)/.bench-installed $(PEERS_VENV)/.installed
	$(BIN)/python benchmarks/bench.py --quick
