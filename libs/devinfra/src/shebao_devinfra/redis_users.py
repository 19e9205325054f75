"""Redis users for development and tests (the rules themselves: `shebao_common.redis_acl`).

A Redis this package starts (`LocalRedis`) has an admin password generated at start and no other
secret: a service's password is derived from the admin's (HMAC), so whoever holds the admin URL
(`Infra.redis_url`, a test) can hand each service its own user without a second channel.
`service_credentials` also creates the user through the admin connection, so a service that is
not in the catalog (a test's own) gets one the same way, and saves the ACL so a restarted server
still knows it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from shebao_common.redis_acl import (
    ADMIN_USER,
    acl_file,
    catalog_services,
    service_rules,
    service_user,
    setuser_commands,
    user_rules,
)
from shebao_common.settings import is_cluster_url

from .local import write_secret


def new_password() -> str:
    """48 hex digits: nothing to escape in a URL, an ACL file or a shell."""
    return secrets.token_hex(24)


def derive_password(admin_password: str, user: str) -> str:
    return hmac.new(
        admin_password.encode(), f"redis-user:{user}".encode(), hashlib.sha256
    ).hexdigest()


def with_credentials(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(
        parts._replace(netloc=f"{quote(user, safe='')}:{quote(password, safe='')}@{host}")
    )


def without_credentials(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def url_password(url: str) -> str | None:
    p = urlsplit(url).password
    return None if p is None else unquote(p)


def derived_acl_file(admin_password: str) -> str:
    """The catalog's users, each service's password derived from the admin's."""
    return acl_file(
        admin_password,
        {s: derive_password(admin_password, service_user(s)) for s in catalog_services()},
    )


def write_acl_file(path: Path, admin_password: str) -> None:
    """`derived_acl_file` written to `path`, mode 0600."""
    write_secret(path, derived_acl_file(admin_password))


ACL_ENV = "SHEBAO_REDIS_ACL_B64"


def boot_script(data_dir: str, server_args: str, *, keep_saved: bool = True) -> str:
    """`sh -c` text that starts redis-server with the ACL file in `data_dir`, written from
    $SHEBAO_REDIS_ACL_B64 (base64): for a container whose command is given (DockerRedis,
    compose.yaml), so there is no file to mount and no ownership to get right. `keep_saved`
    writes it on the first start only, so users created later and saved (ACL SAVE) are still
    there after a restart; compose writes it at every start (the generated users are all).
    The official image's entrypoint, where there is one, still starts the server as `redis`."""
    acl = f"{data_dir}/users.acl"
    write = f'printf %s "${ACL_ENV}" | base64 -d > {acl}'
    return (
        (f"[ -f {acl} ] || {write}\n" if keep_saved else f"{write}\n")
        + "if command -v docker-entrypoint.sh >/dev/null; then set -- docker-entrypoint.sh;"
        + " else set --; fi\n"
        + f'exec "$@" redis-server --protected-mode no --dir {data_dir} --aclfile {acl}'
        + f" {server_args}\n"
    )


def password_var(service: str) -> str:
    """compose.yaml's variable for a service's Redis password."""
    return "SHEBAO_REDIS_PASSWORD_" + service.upper().replace("-", "_")


ADMIN_PASSWORD_VAR = "SHEBAO_REDIS_ADMIN_PASSWORD"  # noqa: S105 - a variable name


def compose_env(folder: Path) -> dict[str, str]:
    """compose.yaml's Redis variables, from `generate(folder)`: the ACL file for the Redis
    container (base64, hashes only), the admin's password (its health check) and each
    service's password (its REDIS_PASSWORD)."""
    import base64

    acl = generate(folder)
    pw = password_files(folder)
    env = {
        ACL_ENV: base64.b64encode(acl.encode()).decode(),
        ADMIN_PASSWORD_VAR: pw[ADMIN_USER],
    }
    env.update({password_var(s): pw[service_user(s)] for s in catalog_services()})
    return env


def password_files(folder: Path) -> dict[str, str]:
    """Password by user name (the admin and every catalog service), each read from
    `<folder>/<user>.password` or, where there is none, generated and written there (0600)."""
    out: dict[str, str] = {}
    for user in [ADMIN_USER, *(service_user(s) for s in catalog_services())]:
        path = folder / f"{user}.password"
        if not path.exists():
            write_secret(path, new_password() + "\n")
        out[user] = path.read_text().strip()
        if not out[user]:
            raise ValueError(f"{path} is empty")
    return out


def generate(folder: Path, *, commands: bool = False) -> str:
    """`shebao-infra redis-acl FOLDER`: the passwords in FOLDER (kept, or generated), the ACL
    file written to FOLDER/users.acl (hashes only); returns the file's text, or with `commands`
    the same users as ACL SETUSER lines (these carry hashes too, no password)."""
    pw = password_files(folder)
    services = {s: pw[service_user(s)] for s in catalog_services()}
    text = acl_file(pw[ADMIN_USER], services)
    write_secret(folder / "users.acl", text)
    return setuser_commands(pw[ADMIN_USER], services) if commands else text


def service_credentials(admin_url: str, service: str) -> tuple[str, str] | None:
    """(user, password) of `service` on the Redis at `admin_url`, the user created (or set
    again, to the same rules) through that admin connection and the ACL saved where the server
    keeps one: on every node of a Redis Cluster (redis+cluster://), whose ACLs are per node.
    None when the URL carries no password: an open Redis, used as it is."""
    import redis

    admin_password = url_password(admin_url)
    if not admin_password:
        return None
    user = service_user(service)
    password = derive_password(admin_password, user)
    rules = user_rules(password, service_rules(service))
    if is_cluster_url(admin_url):
        from redis.cluster import ClusterNode, RedisCluster

        from shebao_common.redis_client import cluster_seeds

        seeds, admin, secret, tls = cluster_seeds(admin_url)
        cluster = RedisCluster(
            startup_nodes=[ClusterNode(h, p) for h, p in seeds],  # type: ignore[no-untyped-call]
            username=admin,
            password=secret,
            ssl=tls,
            socket_connect_timeout=5,
            socket_timeout=10,
        )
        try:
            every = RedisCluster.ALL_NODES
            cluster.execute_command(  # type: ignore[no-untyped-call]
                "ACL", "SETUSER", user, *rules, target_nodes=every
            )
            with contextlib.suppress(redis.exceptions.ResponseError):  # no aclfile
                cluster.execute_command("ACL", "SAVE", target_nodes=every)  # type: ignore[no-untyped-call]
        finally:
            cluster.close()
        return user, password
    client = redis.Redis.from_url(admin_url, socket_connect_timeout=5, socket_timeout=10)
    try:
        client.execute_command("ACL", "SETUSER", user, *rules)  # type: ignore[no-untyped-call]
        try:
            client.acl_save()
        except redis.exceptions.ResponseError as exc:  # no aclfile: users from the config
            if "ACL file" not in str(exc):
                raise
    finally:
        client.close()
    return user, password


__all__ = [
    "ACL_ENV",
    "ADMIN_PASSWORD_VAR",
    "ADMIN_USER",
    "boot_script",
    "compose_env",
    "derive_password",
    "derived_acl_file",
    "generate",
    "new_password",
    "password_files",
    "password_var",
    "service_credentials",
    "url_password",
    "with_credentials",
    "without_credentials",
    "write_acl_file",
]
