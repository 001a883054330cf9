# Two commands do everything on a fresh clone:  make run  and  make test.
# The environment is built once from the committed locks (uv installs in seconds).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
UV     := .uv/bin/uv
PY     := $(VENV)/bin/python
export TF_CPP_MIN_LOG_LEVEL ?= 3
export TF_USE_LEGACY_KERAS := 1

.PHONY: run test setup setup-dev lock images clean help
.DEFAULT_GOAL := help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

run: setup  ## set up from the lock, then run the pipeline on the embedded bank data
	$(PY) pipeline.py --runner=local $(ARGS)

test: setup-dev  ## set up with test tools, then run every test
	$(PY) -m pytest $(PYTEST_ARGS)

setup: $(VENV)/.runtime  ## the runtime environment only
setup-dev: $(VENV)/.dev  ## runtime + test and benchmark tools

$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/pip install --quiet --disable-pip-version-check uv==0.13.9

$(VENV)/.runtime: requirements.lock | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip install --quiet --python $(PY) -r requirements.lock
	touch $@

$(VENV)/.dev: requirements-dev.lock $(VENV)/.runtime
	$(UV) pip install --quiet --python $(PY) -r requirements-dev.lock
	touch $@

lock: | $(UV)  ## re-resolve the locks after editing pyproject.toml
	$(UV) pip compile --quiet pyproject.toml --python-version 3.11 -o requirements.lock
	$(UV) pip compile --quiet pyproject.toml --python-version 3.11 --extra dev --extra bench \
		-c requirements.lock -o requirements-dev.lock

clean:  ## remove runs, served models and environments
	rm -rf runs serving $(VENV) .uv .pytest_cache
