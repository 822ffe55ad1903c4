# The two commands: `make dev` runs the whole local stack, `make test` runs the whole suite.
# Both create the virtual environment and install what is needed first.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
REQUIREMENTS := requirements.txt worker/requirements.txt requirements-dev.txt constraints.txt
STAMP := $(VENV)/.installed

.PHONY: dev test venv lint format typecheck clean

dev: venv ## Run Redis, an S3 endpoint, the bucket, the workers and the API; Ctrl-C stops all
	exec $(PY) -m scripts.stack

test: venv ## Run the whole test suite against real Redis, moto's server, workers and the API
	$(PY) -m pytest $(PYTEST_ARGS)

venv: $(STAMP)

$(STAMP): $(REQUIREMENTS)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is needed (found $$($(PYTHON) --version))"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements-dev.txt -c constraints.txt
	touch $@

lint: venv ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy chalicelib worker

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .local .pytest_cache .mypy_cache .ruff_cache
