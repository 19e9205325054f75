#!/usr/bin/env bash
# Installs what `make test`, `make demo` and `make bench` need on a fresh machine, and nothing twice:
# uv (from PyPI, into .tools/ when it is not on PATH), the Python workspace from uv.lock,
# redis-server and Java/Maven (Debian packages, when missing), and Apache Kafka's jars
# (Maven Central, into ~/.cache/shebao). With a Docker engine the last two are not needed.
# With --browser (what `make test` passes), also Chromium (Debian package), for the browser test
# of the demo's HTML report. With --containers (also from `make test`), a container engine when no
# Docker engine answers: podman, runc and debootstrap (Debian packages), for the image tests;
# shebao_devinfra.containers configures podman from the project's .infra/containers, never /etc.
# With --bench (what `make bench` and `make test` pass), also the `bench` dependency group (Quix Streams, the
# peer the benchmark measures) from uv.lock, alone into .bench-venv: it pins an older pydantic
# than the platform's, so it never goes into the workspace's .venv (pyproject.toml: conflicts).
set -euo pipefail
cd "$(dirname "$0")/.."

want_browser=false
want_containers=false
want_bench=false
for arg in "$@"; do
  case "$arg" in
    --browser) want_browser=true ;;
    --containers) want_containers=true ;;
    --bench) want_bench=true ;;
    *) echo "bootstrap.sh: unknown option $arg (known: --browser --containers --bench)" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*" >&2; }

UV_VERSION="0.13.9"
if command -v uv >/dev/null 2>&1; then
  UV=$(command -v uv)
elif [ -x .tools/venv/bin/uv ]; then
  UV=.tools/venv/bin/uv
else
  say "installing uv $UV_VERSION from PyPI into .tools/"
  python3 -m venv .tools/venv
  .tools/venv/bin/pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
  UV=.tools/venv/bin/uv
fi

# Bytecode is compiled here, once, as the Dockerfile does for the images: where
# PYTHONDONTWRITEBYTECODE is set (as on our CI machines) Python would otherwise compile every
# module again in every process, and a service process spent 3.4 s instead of 1.5 s importing
# itself; the tests start hundreds of them. uv compiles the dependencies it installs (up-to-date
# files are skipped), compileall the workspace's own sources (a stale file is compiled again
# on import, in memory, as before). Not the bench group's: one test starts its Python, and
# compiling it would cost a fresh clone ~7 s more.
say "syncing the workspace from uv.lock"
"$UV" sync --all-packages --locked --quiet --compile-bytecode
"$UV" run --no-sync --quiet python -m compileall -q -j 0 contracts/src libs/*/src services/*/src >/dev/null
if [ "$want_bench" = true ]; then
  say "syncing the bench group (Quix Streams) from uv.lock into .bench-venv"
  UV_PROJECT_ENVIRONMENT=.bench-venv "$UV" sync --only-group bench --locked --quiet
fi

docker_up=false
if [ -z "${SHEBAO_INFRA:-}" ] && command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  docker_up=true
fi
[ "${SHEBAO_INFRA:-}" = "docker" ] && docker_up=true

apt_install() {
  local sudo=""
  if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      say "cannot install $* without root: install it yourself, or set KAFKA_BOOTSTRAP_SERVERS/REDIS_URL"
      exit 1
    fi
  fi
  if [ ! -f .tools/.apt-updated ]; then
    $sudo apt-get update -qq
    mkdir -p .tools && touch .tools/.apt-updated
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

if [ "$docker_up" = false ]; then
  if [ -z "${REDIS_URL:-}" ] && ! command -v redis-server >/dev/null 2>&1; then
    say "installing redis-server (Debian package)"
    apt_install redis-server
    # The package starts a system redis on 6379; ours run on their own ports, so stop it.
    (service redis-server stop || systemctl stop redis-server || true) >/dev/null 2>&1
  fi
  if [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
    command -v java >/dev/null 2>&1 || { say "installing Java 17"; apt_install openjdk-17-jre-headless; }
    command -v mvn >/dev/null 2>&1 || { say "installing Maven"; apt_install maven; }
    "$UV" run --quiet shebao-infra jars >/dev/null
  fi
fi
if [ "$want_browser" = true ] && ! command -v chromium >/dev/null 2>&1; then
  say "installing Chromium (Debian package), for the browser test of the demo's report"
  apt_install chromium
fi
if [ "$want_containers" = true ] && [ "$docker_up" = false ] && [ "${SHEBAO_CONTAINER_ENGINE:-}" != "none" ]; then
  if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1 \
     || { ! command -v debootstrap >/dev/null 2>&1 && [ ! -x /usr/sbin/debootstrap ]; }; then
    say "installing podman, runc and debootstrap (Debian packages), for the image tests"
    # without root this cannot be done: the image tests then skip, naming the reason. The network
    # stack is named too (compose's containers find each other by name through aardvark-dns), in
    # case apt is set not to install what podman only recommends.
    (apt_install podman runc debootstrap netavark aardvark-dns iptables) \
      || say "no container engine installed: the image tests will be skipped"
  fi
fi
say "ready"
