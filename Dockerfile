# One image per service, built from the repository root:
#   docker build --build-arg SERVICE=enrollment -t shebao/enrollment:dev .
# The runtime image holds the Python interpreter and one virtual environment, nothing else of
# ours: no uv, no sources, no tests. It runs as 10001 on a read-only root filesystem.

ARG PYTHON_IMAGE=python:3.11-slim

# --- manifests: only pyproject.toml files and uv.lock, so the dependency layer below is rebuilt
# when a dependency changes, not when a source file does (COPY --from is cached by content).
FROM ${PYTHON_IMAGE} AS manifests
WORKDIR /src
COPY . .
RUN find . -type f ! -name pyproject.toml ! -name uv.lock -delete \
 && find . -depth -type d -empty -delete

# --- builder: uv from PyPI, the locked dependencies, then the workspace packages themselves.
FROM ${PYTHON_IMAGE} AS builder
# uv before any build argument: a RUN with an ARG in scope is cached per value of it, and every
# image (each service's and the simulator's) would install the same uv again.
RUN PIP_ROOT_USER_ACTION=ignore pip install --no-cache-dir --disable-pip-version-check "uv==0.13.9"
ARG SERVICE
# The partners' simulator (compose's profile `partners`) is built the same way from the workspace
# package shebao-devinfra, which runs the services' code and reads their policy data:
# SERVICE=devinfra PACKAGE_DIR=services SCRIPT=shebao-demo.
ARG PACKAGE_DIR=services/${SERVICE}
ARG SCRIPT=shebao-${SERVICE}
RUN test -n "${SERVICE}" || { echo "build with --build-arg SERVICE=<service>" >&2; exit 1; }
# Compile bytecode now: at run time the root filesystem is read-only and writes are disabled.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# --locked needs every workspace member's pyproject.toml (the lock covers the whole workspace).
COPY --from=manifests /src/ ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --package "shebao-${SERVICE}" --no-install-workspace
COPY contracts/ contracts/
COPY libs/ libs/
COPY ${PACKAGE_DIR}/ ${PACKAGE_DIR}/
# --no-editable: the workspace packages are installed into the venv, so /src is not needed later.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --package "shebao-${SERVICE}" --no-editable
# Exec-form ENTRYPOINT does not expand build arguments, so the service's console script gets a
# fixed name; the symlink also fails the build early when the script is missing.
RUN test -x "/app/.venv/bin/${SCRIPT}" \
 && ln -s "${SCRIPT}" /app/.venv/bin/shebao-service

# --- runtime
FROM ${PYTHON_IMAGE}
# Bytecode for the standard library too, where the base image left it out (the root filesystem
# is read-only at run time); up-to-date files are skipped, and a few are not meant to compile.
# Before the service's ARG and LABEL, so that every image shares this layer.
RUN python -m compileall -q -j 0 /usr/local/lib/python3.11 >/dev/null || true
ARG SERVICE
LABEL org.opencontainers.image.title="shebao-${SERVICE}"
COPY --from=builder /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
WORKDIR /tmp
USER 10001:10001
EXPOSE 8080
# The service finishes its batch, flushes the outbox and leaves its consumer groups on SIGTERM
# (within shutdown_grace_seconds, 25 s): give it that long before SIGKILL (see compose.yaml).
STOPSIGNAL SIGTERM
ENTRYPOINT ["shebao-service"]
