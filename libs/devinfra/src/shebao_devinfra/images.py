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

OFFICIAL_PYTHON = "python:3.11-slim"
DEBIAN = "localhost/shebao-debian:bookworm"
LOCAL_PYTHON = "localhost/shebao-python:3.11"
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


def python_base(engine: Engine) -> str:
    """The image the Dockerfile's PYTHON_IMAGE names, per SHEBAO_IMAGES."""
    choice = os.environ.get("SHEBAO_IMAGES", "auto").strip().lower()
    if choice not in ("auto", "official", "local"):
        raise EngineError(f"SHEBAO_IMAGES={choice!r}: expected auto, official or local")
    if choice == "official":
        return OFFICIAL_PYTHON
    if choice == "auto" and (
        engine.has_image(OFFICIAL_PYTHON)
        or engine.run("pull", "-q", OFFICIAL_PYTHON, check=False, timeout=120).returncode == 0
    ):
        return OFFICIAL_PYTHON
    return ensure_local_python(engine)


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
