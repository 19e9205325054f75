"""The services' images, built with the project's Dockerfile on whichever engine `containers` found.

Their Python base is the official `python:3.11-slim` where a registry answers, and otherwise one
built here from Debian's packages: a minimal Debian bookworm made by `debootstrap` and imported
as `localhost/shebao-debian:bookworm`, then Debian's python3 (3.11) on it as
`localhost/shebao-python:3.11`, laid out like the official image where the Dockerfile looks
(`/usr/local/bin/python3.11`). `SHEBAO_IMAGES` chooses: `official`, `local`, or `auto` (the
default: official when the engine has it or can pull it).

The local base trusts the certificate authorities this machine added to its own store
(`/usr/local/share/ca-certificates`): behind a TLS-inspecting proxy, `uv` and `pip` in the build
reach PyPI the way the host does. Base images are rebuilt only when their recipe changes (a label
holds its digest), and kept in the engine's storage between runs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from shebao_contracts.catalog import CONTRACTS

from .containers import Engine, EngineError
from .docker import KAFKA_IMAGE as OFFICIAL_KAFKA
from .docker import REDIS_IMAGE as OFFICIAL_REDIS
from .local import KAFKA_VERSION, ensure_kafka_jars

OFFICIAL_PYTHON = "python:3.11-slim"
DEBIAN = "localhost/shebao-debian:bookworm"
LOCAL_PYTHON = "localhost/shebao-python:3.11"
LOCAL_KAFKA = f"localhost/shebao-kafka:{KAFKA_VERSION}"
LOCAL_REDIS = "localhost/shebao-redis:7"
DEBIAN_MIRROR = os.environ.get("SHEBAO_DEBIAN_MIRROR", "http://deb.debian.org/debian")
HOST_CAS = Path("/usr/local/share/ca-certificates")
RECIPE = "org.shebao.recipe"

PYTHON_CONTAINERFILE = f"""\
FROM {DEBIAN}
COPY cas/ /usr/local/share/ca-certificates/
RUN apt-get update \\
 && apt-get install -y --no-install-recommends python3 python3-pip python3-venv ca-certificates \\
 && rm -rf /var/lib/apt/lists/* \\
 && ln -s /usr/bin/python3.11 /usr/local/bin/python3.11 \\
 && ln -s /usr/bin/python3 /usr/local/bin/python
# Debian marks its python "externally managed"; the Dockerfile's builder installs uv with pip.
ENV PIP_BREAK_SYSTEM_PACKAGES=1 \\
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
"""


KAFKA_CONTAINERFILE = f"""\
FROM {DEBIAN}
RUN apt-get update \\
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \\
 && rm -rf /var/lib/apt/lists/* \\
 && useradd --uid 1000 --home-dir /var/lib/kafka --create-home appuser
COPY libs/ /opt/kafka/libs/
COPY log4j.properties run.sh /opt/kafka/
COPY kafka-broker-api-versions.sh /opt/kafka/bin/
USER 1000
EXPOSE 9092 9093
ENTRYPOINT ["/bin/sh", "/opt/kafka/run.sh"]
"""

# The official image's convention: KAFKA_LISTENER_SECURITY_PROTOCOL_MAP is
# listener.security.protocol.map (`___` is "-", `__` is "_"), CLUSTER_ID names the cluster, and a
# formatted log directory is kept across a restart of the container.
KAFKA_RUN = """\
set -eu
props=/var/lib/kafka/server.properties
: > "$props"
env | while IFS='=' read -r name value; do
  case "$name" in
    KAFKA_HEAP_OPTS|KAFKA_OPTS|KAFKA_JVM_PERFORMANCE_OPTS|KAFKA_LOG4J_OPTS) ;;
    KAFKA_*)
      key=$(printf '%s' "${name#KAFKA_}" | tr 'A-Z' 'a-z' \\
        | sed -e 's/___/-/g' -e 's/__/@/g' -e 's/_/./g' -e 's/@/_/g')
      printf '%s=%s\\n' "$key" "$value" >> "$props" ;;
  esac
done
grep -q '^log.dirs=' "$props" || echo "log.dirs=/var/lib/kafka/data" >> "$props"
cp="/opt/kafka/libs/*"
logdir=$(sed -n 's/^log.dirs=//p' "$props" | cut -d, -f1)
if [ ! -f "$logdir/meta.properties" ]; then
  java -cp "$cp" kafka.tools.StorageTool format --ignore-formatted \\
    -t "${CLUSTER_ID:-5L6g3nShT-eMCtK--X86sw}" -c "$props"
fi
# the quick JIT only, as the local broker: a short-lived broker spent half a core in C2
exec java ${KAFKA_HEAP_OPTS:--Xmx512m} -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \\
  ${KAFKA_OPTS:-} -Dlog4j.configuration=file:/opt/kafka/log4j.properties \\
  -cp "$cp" kafka.Kafka "$props"
"""

# where the official image has it, for compose's health check (which gives it the operator's
# `--command-config`: the broker lets no anonymous client in)
KAFKA_API_VERSIONS = """\
#!/bin/sh
exec java -Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \\
  -Dlog4j.configuration=file:/opt/kafka/log4j.properties -cp '/opt/kafka/libs/*' \\
  kafka.admin.BrokerApiVersionsCommand "$@"
"""

KAFKA_LOG4J = """\
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
"""

REDIS_CONTAINERFILE = f"""\
FROM {DEBIAN}
RUN apt-get update \\
 && apt-get install -y --no-install-recommends redis-server \\
 && rm -rf /var/lib/apt/lists/* \\
 && mkdir /data && chown redis:redis /data
COPY entrypoint.sh /usr/local/bin/
WORKDIR /data
USER redis
EXPOSE 6379
ENTRYPOINT ["/bin/sh", "/usr/local/bin/entrypoint.sh"]
CMD ["redis-server"]
"""

# as the official image: `redis-server ARGS` listens on every interface of the container
REDIS_ENTRYPOINT = """\
set -eu
if [ "${1:-}" = "redis-server" ]; then
  shift
  exec redis-server --protected-mode no --dir /data "$@"
fi
exec "$@"
"""


def _say(msg: str) -> None:
    print(f"[images] {msg}", file=sys.stderr, flush=True)


def services() -> list[str]:
    """Every service of the catalog: one image each."""
    return [c.service for c in CONTRACTS]


def service_tag(service: str) -> str:
    return f"shebao/{service}:dev"


def repo_root() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "Dockerfile").exists() and (parent / "uv.lock").exists():
            return parent
    raise EngineError(f"no repository root (Dockerfile and uv.lock) above {here}")


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(len(p).to_bytes(8, "big"))
        h.update(p)
    return h.hexdigest()[:16]


def _host_cas() -> list[Path]:
    return sorted(HOST_CAS.glob("*.crt")) if HOST_CAS.is_dir() else []


def ensure_debian(engine: Engine) -> str:
    """A minimal Debian bookworm image, made by debootstrap (as root) when the engine lacks it."""
    recipe = _digest(b"debootstrap --variant=minbase bookworm", DEBIAN_MIRROR.encode())
    if engine.has_image(DEBIAN) and engine.label(DEBIAN, RECIPE) == recipe:
        return DEBIAN
    debootstrap = shutil.which("debootstrap") or (
        "/usr/sbin/debootstrap" if Path("/usr/sbin/debootstrap").exists() else None
    )
    if debootstrap is None:
        raise EngineError(
            "no registry answers and debootstrap is missing: install it (Debian package "
            "debootstrap; scripts/bootstrap.sh --containers does) or set SHEBAO_IMAGES=official "
            "with a registry at hand"
        )
    _say(f"building {DEBIAN} with debootstrap from {DEBIAN_MIRROR} (about 30 s)")
    with tempfile.TemporaryDirectory(prefix="shebao-debootstrap-") as tmp:
        root = Path(tmp) / "rootfs"
        proc = subprocess.run(
            [debootstrap, "--variant=minbase", "bookworm", str(root), DEBIAN_MIRROR],
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            raise EngineError("debootstrap failed:\n" + proc.stdout.decode()[-3000:])
        tar = subprocess.run(
            ["tar", "-C", str(root), "-c", "."], capture_output=True, check=True
        ).stdout
        engine.run("import", "--change", f"LABEL {RECIPE}={recipe}", "-", DEBIAN, stdin=tar)
    return DEBIAN


def ensure_local_python(engine: Engine) -> str:
    cas = _host_cas()
    recipe = _digest(
        PYTHON_CONTAINERFILE.encode(),
        *(p.name.encode() for p in cas),
        *(p.read_bytes() for p in cas),
    )
    if engine.has_image(LOCAL_PYTHON) and engine.label(LOCAL_PYTHON, RECIPE) == recipe:
        return LOCAL_PYTHON
    ensure_debian(engine)
    _say(f"building {LOCAL_PYTHON} from Debian's python3")
    with tempfile.TemporaryDirectory(prefix="shebao-python-image-") as tmp:
        ctx = Path(tmp)
        (ctx / "cas").mkdir()
        for p in cas:
            shutil.copyfile(p, ctx / "cas" / p.name)
        (ctx / "Containerfile").write_text(PYTHON_CONTAINERFILE)
        engine.build(ctx, LOCAL_PYTHON, file=ctx / "Containerfile", labels={RECIPE: recipe})
    return LOCAL_PYTHON


def _ensure_built(engine: Engine, tag: str, files: dict[str, bytes], dirs: dict[str, Path]) -> str:
    """Builds `tag` from a Containerfile and files (and folders copied in) unless the engine
    has it from the same recipe."""
    parts: list[bytes] = []
    for name in sorted(files):
        parts += [name.encode(), files[name]]
    for name in sorted(dirs):
        for p in sorted(dirs[name].iterdir()):
            if p.is_file():
                parts += [f"{name}/{p.name}".encode(), hashlib.sha256(p.read_bytes()).digest()]
    recipe = _digest(*parts)
    if engine.has_image(tag) and engine.label(tag, RECIPE) == recipe:
        return tag
    ensure_debian(engine)
    _say(f"building {tag} from Debian's packages")
    with tempfile.TemporaryDirectory(prefix="shebao-image-") as tmp:
        ctx = Path(tmp)
        for name, data in files.items():
            (ctx / name).write_bytes(data)
            (ctx / name).chmod(0o755)
        for name, src in dirs.items():
            shutil.copytree(src, ctx / name, ignore=shutil.ignore_patterns(".*"))
        engine.build(ctx, tag, file=ctx / "Containerfile", labels={RECIPE: recipe})
    return tag


def _choice() -> str:
    choice = os.environ.get("SHEBAO_IMAGES", "auto").strip().lower()
    if choice not in ("auto", "official", "local"):
        raise EngineError(f"SHEBAO_IMAGES={choice!r}: expected auto, official or local")
    return choice


def _official(engine: Engine, tag: str) -> bool:
    """Whether to use an official image: told so, or (auto) the engine has it or pulls it."""
    choice = _choice()
    if choice != "auto":
        return choice == "official"
    return (
        engine.has_image(tag)
        or engine.run("pull", "-q", tag, check=False, timeout=120).returncode == 0
    )


def kafka_image(engine: Engine) -> str:
    """Apache Kafka in KRaft mode, configured by KAFKA_* variables like the official image."""
    if _official(engine, OFFICIAL_KAFKA):
        return OFFICIAL_KAFKA
    files = {
        "Containerfile": KAFKA_CONTAINERFILE.encode(),
        "run.sh": KAFKA_RUN.encode(),
        "log4j.properties": KAFKA_LOG4J.encode(),
        "kafka-broker-api-versions.sh": KAFKA_API_VERSIONS.encode(),
    }
    return _ensure_built(engine, LOCAL_KAFKA, files, {"libs": ensure_kafka_jars()})


def redis_image(engine: Engine) -> str:
    """Redis (Debian's redis-server), `redis-server ARGS` as the official image takes them."""
    if _official(engine, OFFICIAL_REDIS):
        return OFFICIAL_REDIS
    files = {
        "Containerfile": REDIS_CONTAINERFILE.encode(),
        "entrypoint.sh": REDIS_ENTRYPOINT.encode(),
    }
    return _ensure_built(engine, LOCAL_REDIS, files, {})


def python_base(engine: Engine) -> str:
    """The image the Dockerfile's PYTHON_IMAGE names, per SHEBAO_IMAGES."""
    return OFFICIAL_PYTHON if _official(engine, OFFICIAL_PYTHON) else ensure_local_python(engine)


SIMULATOR_TAG = "shebao/partners:dev"


def build_simulator(engine: Engine) -> str:
    """The partners' simulator (compose's profile `partners`): the demo, from shebao-devinfra."""
    base = python_base(engine)
    _say(f"building {SIMULATOR_TAG} on {base}")
    args = {
        "SERVICE": "devinfra",
        "PACKAGE_DIR": "services",
        "SCRIPT": "shebao-demo",
        "PYTHON_IMAGE": base,
    }
    engine.build(repo_root(), SIMULATOR_TAG, build_args=args)
    return SIMULATOR_TAG


def build_services(engine: Engine, names: Iterable[str] | None = None) -> dict[str, str]:
    """Builds each service's image (every service of the catalog by default); returns the tags."""
    base = python_base(engine)
    root = repo_root()
    tags = {}
    for service in names or services():
        if service not in services():
            raise EngineError(f"unknown service {service!r}; the catalog has {services()}")
        tag = service_tag(service)
        _say(f"building {tag} on {base}")
        engine.build(root, tag, build_args={"SERVICE": service, "PYTHON_IMAGE": base})
        tags[service] = tag
    return tags
