# syntax=docker/dockerfile:1.7
# One image recipe for the four Python programs of the uv workspace. Build from the repository
# root (the workspace's one pyproject.toml and uv.lock live there), choosing the member:
#
#   SERVICE_DIR            PACKAGE            PORT   image
#   services/auth          livews-auth        8001   livews/auth:dev
#   services/gateway       livews-gateway     8002   livews/gateway:dev
#   services/marketdata    livews-marketdata  8003   livews/marketdata:dev
#   tools/fyers-emulator   fyers-emulator     8090   livews/fyers-emulator:dev
#
#   docker build -f infra/images/python.Dockerfile --build-arg SERVICE_DIR=services/auth \
#       --build-arg PACKAGE=livews-auth --build-arg PORT=8001 -t livews/auth:dev .
#
# `make images` (scripts/images.sh) runs exactly this for each row. PACKAGE is also the console
# script the image runs. BASE_IMAGE is any Debian-family image with python3.11 (and its venv
# module) on PATH: the official slim image by default; the tests pass a local one built from
# Debian packages (scripts/local-base.sh), because public registries are out of reach there.
# Stage 1 installs that one member and its locked dependencies into /opt/venv; stage 2 is the
# same base with that venv, a non-root user and nothing to build with (no uv, no pip).

ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS builder
ARG UV_VERSION=0.13.9
ARG PACKAGE
ARG SERVICE_DIR
# uv in a venv of its own: works on bases without pip (Debian's python3.11) as on the official one.
RUN python3 -m venv /opt/uv && /opt/uv/bin/python -m pip install --no-cache-dir --quiet "uv==${UV_VERSION}"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=python3 \
    UV_PROJECT_ENVIRONMENT=/opt/venv
WORKDIR /src
# Dependencies first, in their own layer: only the lock and every member's pyproject.toml
# (uv needs the whole workspace to read the lock), so a source edit does not reinstall them.
COPY pyproject.toml uv.lock ./
COPY libs/common/pyproject.toml libs/common/
COPY services/auth/pyproject.toml services/auth/
COPY services/marketdata/pyproject.toml services/marketdata/
COPY services/gateway/pyproject.toml services/gateway/
COPY tools/fyers-emulator/pyproject.toml tools/fyers-emulator/
COPY tools/devtools/pyproject.toml tools/devtools/
RUN --mount=type=cache,target=/root/.cache/uv \
    /opt/uv/bin/uv sync --frozen --no-dev --no-install-workspace --package ${PACKAGE}
# Then the sources this member needs; installed as wheels (not editable) so the runtime
# stage needs nothing but /opt/venv. `livews-service` names the member's console script, so
# the runtime stage's ENTRYPOINT is the same for every member.
COPY libs/common libs/common
COPY ${SERVICE_DIR} ${SERVICE_DIR}
RUN --mount=type=cache,target=/root/.cache/uv \
    /opt/uv/bin/uv sync --frozen --no-dev --no-editable --package ${PACKAGE} && \
    test -x /opt/venv/bin/${PACKAGE} && ln -s ${PACKAGE} /opt/venv/bin/livews-service

FROM ${BASE_IMAGE} AS runtime
ARG PACKAGE
ARG PORT
# The interpreter is the only thing the venv needs from the base image; pip is not.
RUN python3 -m pip uninstall --yes --quiet pip setuptools wheel 2>/dev/null || true; \
    groupadd --system --gid 10001 livews && \
    useradd --system --uid 10001 --gid livews --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin livews && \
    mkdir -p /var/lib/livews && chown livews:livews /var/lib/livews
COPY --from=builder --chown=root:root /opt/venv /opt/venv
# LIVEWS_IMAGE_PORT: the port CMD listens on, for the health check below (exec form cannot
# expand build arguments). Change both together when running on another port.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LIVEWS_STATE_DIR=/var/lib/livews \
    LIVEWS_IMAGE_PORT=${PORT}
LABEL org.opencontainers.image.title="${PACKAGE}" \
      org.opencontainers.image.source="https://github.com/livews/livews"
WORKDIR /var/lib/livews
USER 10001:10001
EXPOSE ${PORT}
# curl is not in the image: probe with the interpreter that is.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python3", "-c", "import os, sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['LIVEWS_IMAGE_PORT'], timeout=2).status == 200 else 1)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["livews-service"]
CMD ["--host", "0.0.0.0"]
