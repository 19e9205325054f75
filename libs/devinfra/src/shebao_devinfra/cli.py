"""shebao-infra: start and stop real Kafka and Redis for development (make infra-up / infra-down).

  shebao-infra up [--redis-cluster]
                       start them (Docker compose where an engine answers, else local processes);
                       --redis-cluster: a local Redis Cluster (3 masters, 1 replica each, on the
                       installed redis-server, in either mode) instead of the single Redis, and
                       REDIS_URL=redis+cluster://... in .infra/env
  shebao-infra down    stop what `up` started
  shebao-infra env     print the export lines for KAFKA_BOOTSTRAP_SERVERS and REDIS_URL
  shebao-infra jars    resolve the Kafka jars from Maven Central (done by `up` when needed)
  shebao-infra platform up|partners|down
                       the whole platform under compose (Docker or podman): make up / make down
  shebao-infra images [SERVICE...]
                       build the services' images (all of them by default) on Docker or podman
  shebao-infra redis-acl FOLDER [--setuser | --env]
                       Redis's users from the catalog (shebao_common.redis_acl): each user's
                       password in FOLDER/<user>.password (kept, or generated), the ACL file
                       FOLDER/users.acl (password hashes only), printed; --setuser prints the
                       same users as ACL SETUSER commands for redis-cli instead, --env the
                       export lines compose.yaml's SHEBAO_REDIS_* variables take

State lives in .infra/ under the current folder (the repository root when run by make).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

from . import compose
from .containers import EngineError, find_engine, no_engine_reason
from .images import build_services, repo_root
from .infra import choose_mode
from .local import (
    ADMIN_USER,
    InfraError,
    LocalKafka,
    LocalRedis,
    ensure_kafka_jars,
    free_port,
    operator_environment,
    stop_pid,
    write_secret,
)

STATE_DIR = Path(".infra")
STATE = STATE_DIR / "state.json"
ENV_FILE = STATE_DIR / "env"


def _port_or_free(port: int) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return free_port()
    return port


def _write_env(bootstrap: str, redis_url: str, kafka_secret: Path | None = None) -> None:
    lines = [f"export KAFKA_BOOTSTRAP_SERVERS={bootstrap}", f"export REDIS_URL={redis_url}"]
    if kafka_secret is not None:
        lines += [
            "export KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT",
            "export KAFKA_SASL_MECHANISM=PLAIN",
            f"export KAFKA_USERNAME={ADMIN_USER}",
            f"export KAFKA_PASSWORD_FILE={kafka_secret}",
        ]
    # REDIS_URL carries the admin's password of a local redis-server: readable by its owner only
    write_secret(ENV_FILE, "\n".join(lines) + "\n")


def _admin_secret() -> Path:
    """The operator's password of the development broker: drawn once, kept beside its data
    (mode 0600), and named by the environment of this process and of `.infra/env`."""
    secret = (STATE_DIR / "kafka-admin.password").resolve()
    if not secret.exists():
        write_secret(secret, secrets.token_urlsafe(24) + "\n")
    os.environ.update(operator_environment(KAFKA_PASSWORD_FILE=str(secret)))
    return secret


def _start_cluster(data: Path) -> tuple[str, list[int]]:
    """The local Redis Cluster of `up --redis-cluster`: (its URL, its nodes' pids)."""
    from .redis_cluster import LocalRedisCluster

    cluster = LocalRedisCluster(data).start()
    return cluster.url, [n.pid for n in cluster.nodes if n.pid is not None]


def up(redis_cluster: bool = False) -> int:
    STATE_DIR.mkdir(exist_ok=True)
    if STATE.exists():
        print(f"already up (see {STATE}); `shebao-infra down` first", file=sys.stderr)
        print(ENV_FILE.read_text(), end="")
        return 0
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and os.environ.get("REDIS_URL"):
        print("KAFKA_BOOTSTRAP_SERVERS and REDIS_URL are set: using them, starting nothing")
        _write_env(os.environ["KAFKA_BOOTSTRAP_SERVERS"], os.environ["REDIS_URL"])
        return 0
    mode = choose_mode()
    if mode == "docker":
        from .redis_users import ADMIN_PASSWORD_VAR, compose_env, with_credentials
        from .redis_users import ADMIN_USER as REDIS_ADMIN

        # compose's broker has this operator as its super user (the secrets compose mounts)
        secret = _admin_secret()
        root = repo_root()
        env = compose.write_secrets(compose.secrets_dir(root, compose.PROJECT), root)
        redis_env = compose_env(STATE_DIR / "redis")
        subprocess.run(
            [
                "docker",
                "compose",
                "up",
                "-d",
                "--wait",
                "kafka",
                *([] if redis_cluster else ["redis"]),
            ],
            check=True,
            env={**os.environ, **env, **redis_env},
        )
        admin = redis_env[ADMIN_PASSWORD_VAR]
        url = with_credentials("redis://127.0.0.1:6379/0", REDIS_ADMIN, admin)
        pids: list[int] = []
        if redis_cluster:
            try:
                url, pids = _start_cluster((STATE_DIR / "data" / "redis-cluster").resolve())
            except BaseException:
                down_env = {**os.environ, **env, **redis_env}
                subprocess.run(["docker", "compose", "down", "-v"], check=False, env=down_env)
                raise
        STATE.write_text(json.dumps({"mode": "docker", "redis_pids": pids}))
        _write_env("127.0.0.1:9092", url, secret)
    else:
        data = (STATE_DIR / "data").resolve()
        secret = _admin_secret()
        kafka = LocalKafka(
            data / "kafka", port=_port_or_free(9092), controller_port=_port_or_free(9093)
        )
        kafka.start()
        try:
            if redis_cluster:
                url, pids = _start_cluster(data / "redis-cluster")
            else:
                redis = LocalRedis(data / "redis", port=_port_or_free(6379)).start()
                url, pids = redis.url, [p for p in [redis.pid] if p is not None]
        except BaseException:
            kafka.stop()
            raise
        STATE.write_text(json.dumps({"mode": "local", "kafka_pid": kafka.pid, "redis_pids": pids}))
        _write_env(kafka.bootstrap, url, secret)
    print(f"infrastructure up ({mode}):")
    print(ENV_FILE.read_text(), end="")
    return 0


def down() -> int:
    if not STATE.exists():
        print("nothing to stop")
        return 0
    state = json.loads(STATE.read_text())
    # a single local Redis, or a local cluster's nodes ("redis_pid": state of an older `up`)
    for pid in [*state.get("redis_pids", []), *[state[k] for k in ("redis_pid",) if k in state]]:
        stop_pid(int(pid), timeout=30)
    if state["mode"] == "docker":
        from .redis_users import compose_env

        env = {**os.environ, **compose_env(STATE_DIR / "redis")}  # compose interpolates all
        subprocess.run(["docker", "compose", "down", "-v"], check=False, env=env)
    elif state.get("kafka_pid"):
        stop_pid(int(state["kafka_pid"]), timeout=30)
    STATE.unlink()
    ENV_FILE.unlink(missing_ok=True)
    import shutil

    shutil.rmtree(STATE_DIR / "data", ignore_errors=True)
    (STATE_DIR / "kafka-admin.password").unlink(missing_ok=True)
    print("infrastructure stopped")
    return 0


def images(names: list[str]) -> int:
    engine = find_engine()
    if engine is None:
        print(f"shebao-infra: {no_engine_reason()}", file=sys.stderr)
        return 2
    for service, tag in build_services(engine, names or None).items():
        print(f"{service}\t{tag}\t({engine.name})")
    return 0


def redis_acl(args: list[str]) -> int:
    from .redis_users import compose_env, generate

    folders = [a for a in args if not a.startswith("-")]
    flags = [a for a in args if a.startswith("-")]
    if len(folders) != 1 or len(flags) > 1 or any(f not in ("--setuser", "--env") for f in flags):
        print("usage: shebao-infra redis-acl FOLDER [--setuser | --env]", file=sys.stderr)
        return 2
    folder = Path(folders[0])
    if flags == ["--env"]:
        for name, value in compose_env(folder).items():
            print(f"export {name}={value}")
        return 0
    print(generate(folder, commands=flags == ["--setuser"]), end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    cmd = args[0] if args else "help"
    try:
        if cmd == "up":
            if any(a != "--redis-cluster" for a in args[1:]):
                print("usage: shebao-infra up [--redis-cluster]", file=sys.stderr)
                return 2
            return up(redis_cluster="--redis-cluster" in args[1:])
        if cmd == "down":
            return down()
        if cmd == "env":
            if ENV_FILE.exists():
                print(ENV_FILE.read_text(), end="")
                return 0
            print("not up", file=sys.stderr)
            return 1
        if cmd == "jars":
            print(ensure_kafka_jars())
            return 0
        if cmd == "images":
            return images(args[1:])
        if cmd == "redis-acl":
            return redis_acl(args[1:])
        if cmd == "platform":
            engine = find_engine()
            if engine is None:
                print(f"shebao-infra: {no_engine_reason()}", file=sys.stderr)
                return 2
            return compose.main(args[1:], engine)
    except (InfraError, EngineError) as exc:
        print(f"shebao-infra: {exc}", file=sys.stderr)
        return 2
    print(__doc__)
    return 0 if cmd in ("help", "-h", "--help") else 2


if __name__ == "__main__":
    raise SystemExit(main())
