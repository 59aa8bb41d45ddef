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
