# rnnserve: CPU image by default. The GPU variant is the same file built with
# TORCH_INDEX_URL pointing at a CUDA wheel index (see docker-compose.yml, profile gpu).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH
RUN useradd --system --uid 10001 --create-home --home-dir /home/rnnserve rnnserve
WORKDIR /app

# Build the virtual environment once; later stages copy it without pip or its caches.
FROM base AS builder
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY docker/requirements.txt /tmp/requirements.txt
RUN python -m venv /opt/venv \
    && pip install --index-url "${TORCH_INDEX_URL}" torch==2.13.0 \
    && pip install -r /tmp/requirements.txt

FROM builder AS train-builder
COPY docker/requirements-train.txt /tmp/requirements-train.txt
RUN pip install -r /tmp/requirements-train.txt

# `docker compose --profile train run train ...`: retrains an artifact into the mounted folder.
FROM base AS train
COPY --from=train-builder /opt/venv /opt/venv
COPY models/ models/
COPY training/ training/
USER 10001
ENTRYPOINT ["python", "-m", "training"]
CMD ["--help"]

# The default target: serve the committed artifacts.
FROM base AS runtime
COPY --from=builder /opt/venv /opt/venv
COPY models/ models/
COPY service/ service/
COPY artifacts/ artifacts/
ENV RNNSERVE_ARTIFACTS_DIR=/app/artifacts \
    RNNSERVE_DEVICE=auto \
    RNNSERVE_DRAIN_TIMEOUT_S=20 \
    RNNSERVE_LOG_LEVEL=info \
    HOST=0.0.0.0 \
    PORT=8000
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)"]
STOPSIGNAL SIGTERM
# python -m service serves on $HOST:$PORT. On SIGTERM it refuses new work and gives admitted requests
# RNNSERVE_DRAIN_TIMEOUT_S to finish; what still waits then gets a JSON 503 draining (service/drain.py).
CMD ["python", "-m", "service"]
