# syntax=docker/dockerfile:1
# One image, four roles (the command picks): api | worker | beat | gpu-worker (plus migrate).
#   docker build -t tuneforge .                     # slim CPU image: api, worker, beat, migrate
#   docker build --target gpu -t tuneforge-gpu .    # + torch (CUDA) and the `local` extra
# No secret is baked in: everything is read from TUNEFORGE_* variables at run time.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# torch's Linux wheels on PyPI carry their CUDA runtime (the nvidia-* wheels); a GPU host needs
# only the NVIDIA driver and container toolkit. Point this at another index for another CUDA.
ARG TORCH_INDEX_URL=https://pypi.org/simple

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini procps wordnet-base \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 tuneforge \
    && useradd --system --uid 10001 --gid tuneforge --home-dir /app --shell /usr/sbin/nologin tuneforge

# Dependencies first (cached while only the source changes), then the source, editable so the
# migrations in /app/alembic are found next to the package. Every install is constrained to
# constraints.txt (the versions the suite last passed on): an image built later resolves the
# same versions, not whatever is newest that day.
FROM base AS build
WORKDIR /app
RUN python -m venv /opt/venv && pip install --upgrade pip setuptools wheel
COPY pyproject.toml README.md constraints.txt ./
COPY service ./service
COPY workers ./workers
COPY tuneforge_cli ./tuneforge_cli
COPY providers ./providers
COPY emulators ./emulators
COPY local_gpu ./local_gpu
COPY alembic ./alembic
COPY alembic.ini ./
RUN pip install -c constraints.txt -e . --config-settings editable_mode=compat

FROM build AS build-gpu
ARG TORCH_INDEX_URL
# torch pinned and installed before the extra, so no looser spec pulls another build.
RUN pip install --index-url "${TORCH_INDEX_URL}" --extra-index-url https://pypi.org/simple \
        -c constraints.txt torch==2.13.0 \
    && pip install -c constraints.txt -e '.[local]' --config-settings editable_mode=compat

FROM base AS runtime-common
WORKDIR /app
COPY --chmod=0755 deploy/docker-entrypoint.sh /usr/local/bin/tuneforge-entrypoint
ENV TUNEFORGE_ENVIRONMENT=production \
    TUNEFORGE_HOST=0.0.0.0 \
    TUNEFORGE_PORT=8000 \
    TUNEFORGE_DATA_DIR=/data \
    TUNEFORGE_LOG_FORMAT=json \
    PROMETHEUS_MULTIPROC_DIR=/tmp/tuneforge-metrics
RUN mkdir -p /data && chown tuneforge:tuneforge /data
VOLUME ["/data"]
EXPOSE 8000
STOPSIGNAL SIGTERM
ENTRYPOINT ["tini", "--", "tuneforge-entrypoint"]
CMD ["api"]

FROM runtime-common AS gpu
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
COPY --from=build-gpu --chown=tuneforge:tuneforge /app /app
COPY --from=build-gpu /opt/venv /opt/venv
USER tuneforge
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["tuneforge-entrypoint", "healthcheck"]
CMD ["gpu-worker"]

# Last stage: what a plain `docker build .` produces.
FROM runtime-common AS runtime
COPY --from=build --chown=tuneforge:tuneforge /app /app
COPY --from=build /opt/venv /opt/venv
USER tuneforge
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["tuneforge-entrypoint", "healthcheck"]
CMD ["api"]
