# syntax=docker/dockerfile:1
#
# One image for every BillingOS Python service. The entrypoint is `python -m`,
# so a Deployment picks the service and the command with its args:
#   args: ["billingos_customers", "serve"]     (the gRPC server)
#   args: ["billingos_customers", "migrate"]   (Alembic to head, then exit)
#
# Build from the repository root:  docker build -t billingos:dev .
#
# Every folder under services/ is installed (the same glob as the uv workspace
# in pyproject.toml), so a new service joins the image by existing. The CLI
# (billingos-cli, with the embedded Postgres/NATS/Envoy wheels) and the dev
# dependency group are left out: they are for laptops and tests, not pods.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Only the files that decide the dependency set (uv.lock and every
# pyproject.toml). This stage reruns on any change, but its output only differs
# when those files do, so the dependency layer below stays cached while only
# source code changes.
FROM ${PYTHON_IMAGE} AS manifests
WORKDIR /src
COPY . .
RUN find . -type f ! -name pyproject.toml ! -name uv.lock -delete \
    && find . -depth -type d -empty ! -path . -delete \
    && mkdir -p services

FROM ${PYTHON_IMAGE} AS build
# uv pinned to the version the repository pins (pyproject.toml, ./billingos).
COPY --from=ghcr.io/astral-sh/uv:0.13.8 /uv /usr/local/bin/uv
ENV UV_PROJECT_ENVIRONMENT=/opt/billingos/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_FROZEN=1 \
    UV_NO_DEV=1
WORKDIR /src

# Third-party dependencies, exactly as locked in uv.lock.
COPY --from=manifests /src /src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --no-install-workspace \
      $(for d in services/*/; do printf -- '--package billingos-%s ' "$(basename "$d")"; done)

# The workspace packages themselves (kit, generated protos, the services),
# installed as wheels: the runtime stage needs the virtualenv and nothing else.
COPY . /src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --no-editable \
      $(for d in services/*/; do printf -- '--package billingos-%s ' "$(basename "$d")"; done)

FROM ${PYTHON_IMAGE} AS runtime
# A Unicode TrueType font for the invoice PDFs (services/subscriptions:
# invoice_fonts.py), which the slim image lacks: without one, names outside
# Western European and CJK scripts would print as "?".
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
# A named user (not only a uid): libraries that ask for the login name, such
# as asyncpg's default database user, look it up in /etc/passwd.
RUN groupadd --system --gid 10001 billingos \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin billingos
COPY --from=build /opt/billingos/venv /opt/billingos/venv
# Bytecode was compiled at build time; pods run with a read-only root
# filesystem, so Python must not try to write __pycache__.
# PYTHONSAFEPATH keeps the working directory off sys.path for `python -m`.
ENV PATH=/opt/billingos/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONSAFEPATH=1 \
    PYTHONUNBUFFERED=1
# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
WORKDIR /app
ENTRYPOINT ["python", "-m"]
