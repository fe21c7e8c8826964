# One image recipe for every Parley service.
#
#   docker build --build-arg SERVICE=flow-engine -t parley/flow-engine .
#
# SERVICE is the directory name under services/ (gateway, ingest, conversation, sender,
# campaign, flow-engine, egress). The image runs `python -m parley.<module>` (module =
# SERVICE with '-' replaced by '_'); its default command is `serve` (apply migrations unless
# PARLEY_MIGRATE_ON_START=false, then serve HTTP + Kafka consumers). Other commands: `migrate`,
# `rebuild`, and the kit tools `python -m parley.kit.provision` / `python -m parley.kit.topics`
# (override the entrypoint). The entrypoint defaults <PREFIX>_HOST to 0.0.0.0 (the settings'
# default is 127.0.0.1); docker-compose.yml and deploy/k8s also set it explicitly.
# Needs BuildKit (the default builder of current Docker and of `docker compose`).

ARG PYTHON_IMAGE=python:3.12-slim

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ARG SERVICE
ARG UV_VERSION=0.13.9

SHELL ["/bin/bash", "-euo", "pipefail", "-c"]

# Fail early on a missing or unknown SERVICE, and record the service's default HTTP port.
# Keep this list in step with services/ (tests/unit/deploy/test_dockerfile.py checks it).
RUN case "${SERVICE:-}" in \
      gateway) port=8080 ;; \
      ingest) port=8081 ;; \
      conversation) port=8082 ;; \
      sender) port=8083 ;; \
      campaign) port=8084 ;; \
      flow-engine) port=8085 ;; \
      egress) port=8086 ;; \
      *) echo "build arg SERVICE must name a directory under services/ (got '${SERVICE:-}')" >&2; exit 1 ;; \
    esac; \
    mkdir -p /app/etc; \
    echo "$port" > /app/etc/port; \
    echo "${SERVICE//-/_}" > /app/etc/module

RUN pip install --no-cache-dir "uv==${UV_VERSION}"

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_PROJECT_ENVIRONMENT=/app/.venv

WORKDIR /src

# Third-party dependencies first (a layer that survives source edits): only the root
# pyproject.toml and uv.lock are needed for this step.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --frozen --no-dev --no-install-workspace --package "parley-${SERVICE}"

# Then the workspace itself, installed as regular (non-editable) wheels: the final image
# needs the virtualenv only, not the source tree. Dev-only members (parley-devstack) and the
# dev dependency group are not installed.
COPY . .
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package "parley-${SERVICE}" \
    && /app/.venv/bin/python -c "import importlib, sys; importlib.import_module('parley.' + open('/app/etc/module').read().strip()); importlib.import_module('parley.kit')"

# The entrypoint: `python -m parley.<module> [command]`, exec'd so Python is PID 1 and gets SIGTERM.
# In a container the service must listen on every interface: <PREFIX>_HOST defaults to 0.0.0.0
# here (the settings' own default, 127.0.0.1, suits a developer's machine).
RUN module="$(cat /app/etc/module)"; prefix="$(echo "$module" | tr '[:lower:]' '[:upper:]')"; \
    printf '#!/bin/sh\n: "${%s_HOST:=0.0.0.0}"\nexport %s_HOST\nexec python -m parley.%s "$@"\n' \
      "$prefix" "$prefix" "$module" > /app/etc/entrypoint \
    && chmod 0755 /app/etc/entrypoint

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ARG SERVICE

LABEL org.opencontainers.image.title="parley-${SERVICE}" \
      org.opencontainers.image.description="Parley ${SERVICE} service" \
      org.opencontainers.image.source="parley"

RUN groupadd --system --gid 10001 parley \
    && useradd --system --uid 10001 --gid parley --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin parley

COPY --from=builder --chown=root:root /app /app

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PARLEY_SERVICE=${SERVICE} \
    PARLEY_ENV=production

WORKDIR /app
USER 10001:10001

# Every service listens on one port of this range (its <PREFIX>_PORT; default in /app/etc/port).
EXPOSE 8080-8086

# Liveness: GET /healthz on the service's port (<PREFIX>_PORT if set, else the default).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; s = os.environ['PARLEY_SERVICE'].upper().replace('-', '_'); p = os.environ.get(s + '_PORT') or open('/app/etc/port').read().strip(); urllib.request.urlopen('http://127.0.0.1:%s/healthz' % p, timeout=4)"]

ENTRYPOINT ["/app/etc/entrypoint"]
CMD ["serve"]
