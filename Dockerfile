# rnnserve: CPU image by default. The GPU variant is the same file built with
# TORCH_INDEX_URL pointing at a CUDA wheel index (see docker-compose.yml, profile gpu).
#
# Stage order matters: the legacy builder (DOCKER_BUILDKIT=0) builds every stage above its target, so the
# stages the server needs come first and the training stages after it. The last stage repeats `runtime`,
# so a plain `docker build .` gives the server.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH
# A regular (non-system) account: uid 10001 is above SYS_UID_MAX, and clashes with no host user.
RUN groupadd --gid 10001 rnnserve \
    && useradd --uid 10001 --gid 10001 --no-log-init --create-home --home-dir /home/rnnserve rnnserve
WORKDIR /app

# The virtual environment holds the packages and nothing else: it is made without pip, and the base
# image's pip installs into it (`pip --python`), so no later stage carries pip or its caches.
FROM base AS builder
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY docker/requirements.txt /tmp/requirements.txt
RUN python3 -m venv --without-pip /opt/venv \
    && /usr/local/bin/pip --python /opt/venv/bin/python install --index-url "${TORCH_INDEX_URL}" torch==2.13.0 \
    && /usr/local/bin/pip --python /opt/venv/bin/python install -r /tmp/requirements.txt

# The server: the committed artifacts, served on $HOST:$PORT.
FROM base AS runtime
COPY --from=builder /opt/venv /opt/venv
COPY models/ models/
COPY forecasting/ forecasting/
COPY service/ service/
COPY artifacts/ artifacts/
# The drain fits in a plain `docker stop` (10 s): 5 s for admitted requests, then uvicorn's 3 s margin.
ENV RNNSERVE_ARTIFACTS_DIR=/app/artifacts \
    RNNSERVE_DEVICE=auto \
    RNNSERVE_DRAIN_TIMEOUT_S=5 \
    RNNSERVE_LOG_LEVEL=info \
    HOST=0.0.0.0 \
    PORT=8000
USER 10001
EXPOSE 8000
# Checked every 5 s, so `healthy` (which compose's scale profile waits for) follows readiness closely.
HEALTHCHECK --interval=5s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)"]
STOPSIGNAL SIGTERM
# python -m service serves on $HOST:$PORT. On SIGTERM it refuses new work and gives admitted requests
# RNNSERVE_DRAIN_TIMEOUT_S to finish; what still waits then gets a JSON 503 draining (service/runtime/drain.py).
CMD ["python", "-m", "service"]

FROM builder AS train-builder
COPY docker/requirements-train.txt /tmp/requirements-train.txt
RUN /usr/local/bin/pip --python /opt/venv/bin/python install -r /tmp/requirements-train.txt

# `docker compose --profile train run train ...`: retrains an artifact into the mounted folder. Compose runs
# it as the host user that owns that folder (RNNSERVE_UID), so HOME and matplotlib's cache live in /tmp.
FROM base AS train
COPY --from=train-builder /opt/venv /opt/venv
COPY models/ models/
COPY forecasting/ forecasting/
COPY training/ training/
ENV HOME=/tmp MPLCONFIGDIR=/tmp/matplotlib
USER 10001
ENTRYPOINT ["python", "-m", "training"]
CMD ["--help"]

FROM runtime AS default
