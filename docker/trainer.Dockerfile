# bankpipe-trainer: the image of train, evaluate and push: TensorFlow (CPU) and tf_keras, no TFDV or Beam.
# Built by `make images` (docker/build.py), which feeds an offline base and the host's wheel cache;
# elsewhere: docker build -f docker/trainer.Dockerfile -t bankpipe-trainer:0.1.0 .   (base and wheels from public registries)
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

# A read-only root filesystem: whatever a process writes goes to /tmp (a tmpfs) or /artifacts (a volume).
# TensorFlow, matplotlib and Beam all look in HOME, TMPDIR or MPLCONFIGDIR for scratch space.
ENV HOME=/tmp \
    TMPDIR=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=3 \
    TF_USE_LEGACY_KERAS=1 \
    PATH=/opt/venv/bin:$PATH

# The same uid everywhere (Kubernetes securityContext, the local runner) so volumes' owners line up.
# LightGBM (the default model's teacher) links OpenMP's runtime: the debootstrap base has libgomp1, a slim
# base gets it from Debian (needs the network at build time).
# hadolint ignore=DL3008
RUN if [ -z "$(find /usr/lib /lib -name libgomp.so.1 -print -quit 2>/dev/null)" ]; then \
        apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libgomp1 \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
 && useradd --uid 10001 --user-group --no-create-home --home-dir /tmp --shell /usr/sbin/nologin bankpipe \
 && mkdir /artifacts && chown 10001:10001 /artifacts

# Dependencies change far less often than code: their layer comes first and stays cached.
# WHEELS_URL (set by docker/build.py) serves the host's wheel cache, so the build needs no registry;
# unset, pip takes the same pinned versions from PyPI. --no-deps: the lock is already complete.
ARG WHEELS_URL=
COPY docker/requirements-trainer.lock /opt/requirements.lock
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps \
        ${WHEELS_URL:+--no-index --find-links $WHEELS_URL} -r /opt/requirements.lock

# The embedded data and its curated schema, so the image runs the pipeline with no input volume.
COPY data/bank.csv data/schema.pbtxt /app/data/

WORKDIR /app
USER 10001:10001
# python -m: container arguments are the component module and its flags, e.g. components.steps.validate --help
ENTRYPOINT ["python", "-m"]
CMD ["components.steps.train", "--help"]

# Last, so that a code change rebuilds only this layer; the label (no layer) is the code's digest, which
# the runner compares with the checkout's to refuse a stale image.
COPY components /app/components
ARG CODE_DIGEST=unknown
LABEL org.bankpipe.code-digest=$CODE_DIGEST
