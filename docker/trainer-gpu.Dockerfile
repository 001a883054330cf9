# bankpipe-trainer-gpu: the trainer image for NVIDIA GPUs (train, evaluate and push), TensorFlow with
# the [and-cuda] extra at the locked version: CUDA 12.3 and cuDNN 8.9 come as pip wheels, the driver from
# the host through the NVIDIA container toolkit.
# For real (README, "Containers"), on a machine that can pull a CUDA base image:
#   docker build --network host -f docker/trainer-gpu.Dockerfile -t bankpipe-trainer-gpu:0.1.0 .
# `make images` builds it on the local stand-in base (no CUDA), which checks everything but the GPU.
ARG BASE_IMAGE=nvidia/cuda:12.3.2-base-ubuntu22.04
FROM ${BASE_IMAGE}

# The NVIDIA container toolkit reads these to mount the driver (nvidia/cuda bases set them too).
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    HOME=/tmp \
    TMPDIR=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=3 \
    TF_USE_LEGACY_KERAS=1 \
    PATH=/opt/venv/bin:$PATH

# CUDA bases are Ubuntu 22.04, whose Python is 3.10: add 3.11 and venv there, and OpenMP's runtime for
# LightGBM (the default model's teacher), from the network at build time; a base that already has both
# (the stand-in) skips this.
# hadolint ignore=DL3008
RUN if ! command -v python3.11 >/dev/null || [ -z "$(find /usr/lib /lib -name libgomp.so.1 -print -quit 2>/dev/null)" ]; then \
        apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3.11 python3.11-venv \
           libgomp1 \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
 && useradd --uid 10001 --user-group --no-create-home --home-dir /tmp --shell /usr/sbin/nologin bankpipe \
 && mkdir /artifacts && chown 10001:10001 /artifacts

# Dependencies first, code last (see trainer.Dockerfile); WHEELS_URL serves the host's wheel cache.
ARG WHEELS_URL=
COPY docker/requirements-trainer-gpu.lock /opt/requirements.lock
RUN python3.11 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps \
        ${WHEELS_URL:+--no-index --find-links $WHEELS_URL} -r /opt/requirements.lock

COPY data/bank.csv data/schema.pbtxt /app/data/

WORKDIR /app
USER 10001:10001
ENTRYPOINT ["python", "-m"]
CMD ["components.steps.train", "--help"]

# Last, so that a code change rebuilds only this layer; the label (no layer) is the code's digest, which
# the runner compares with the checkout's to refuse a stale image.
COPY components /app/components
ARG CODE_DIGEST=unknown
LABEL org.bankpipe.code-digest=$CODE_DIGEST
