"""Redis ACL users, generated from the contracts' catalog: one user per service, limited to the
service's own key prefix and to the commands its runtime sends; an admin user for operators and
tests; the `default` user off.

Every key a service touches lies under `shebao:<service>:` (`runtime/store.py`: state, dedupe
marks, offsets, outbox streams, counters, the parked streams, each under its slot's hash tag,
and the record of the layout; the commit and park Lua scripts touch only those keys; the rebuild
job and the read sides scan `shebao:<service>:*`). So user
`shebao-<service>` gets `~shebao:<service>:*` and nothing else, and no Pub/Sub channel.

The commands, by category (`ACL CAT <category>` on Redis 7):
  @connection  AUTH, HELLO, PING (health checks, /readyz), SELECT (a database other than 0)
  @string      GET, MGET, SET (state, dedupe marks)
  @hash        HGET, HMGET, HGETALL, HSET, HINCRBY (offsets, counters)
  @stream      XADD, XRANGE, XLEN, XDEL, XTRIM (outbox, parked outputs)
  @keyspace    SCAN (rebuild, the enrollment read side), DEL (rebuild --wipe), TTL, EXISTS
  @scripting   EVALSHA, EVAL, SCRIPT LOAD (the commit and park scripts)
  WAIT (@connection) a commit on a replica before its outputs leave; and on a Redis Cluster the
  read-only CLUSTER SLOTS, SHARDS, NODES, INFO and MYID the client learns the slots' owners from
minus @dangerous and @admin (FLUSHALL, FLUSHDB, CONFIG, KEYS, INFO, DEBUG, ACL, CLIENT KILL,
MONITOR, SHUTDOWN, ...), minus what would reach beyond the service's keys or disturb others:
FUNCTION (server-wide libraries), SCRIPT FLUSH / KILL / DEBUG, RANDOMKEY.

Key names are not secret from a service user: SCAN and DBSIZE are not filtered by key pattern.
Nothing secret is in a key name (citizen IDs are in values, sealed).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

ADMIN_USER = "shebao-admin"
"""Operators, migrations and tests: every key, every command."""

SERVICE_COMMANDS: tuple[str, ...] = (
    "-@all",
    "+@connection",
    "+@string",
    "+@hash",
    "+@stream",
    "+@keyspace",
    "+@scripting",
    "-@dangerous",
    "-@admin",
    "-function",
    "-script|flush",
    "-script|kill",
    "-script|debug",
    "-randomkey",
    # a cluster client learns the slots' owners from these read-only answers
    "+cluster|slots",
    "+cluster|shards",
    "+cluster|nodes",
    "+cluster|info",
    "+cluster|myid",
)
"""What a service's runtime needs (see the module's docstring), in `ACL SETUSER` rule syntax."""

ADMIN_RULES: tuple[str, ...] = ("~*", "&*", "+@all")
DEFAULT_RULES: tuple[str, ...] = ("off", "resetpass", "~*", "&*", "+@all")
"""The `default` user is off: no connection can log in as it, so an unauthenticated one can do
nothing (NOAUTH). Its permissions stay whole on purpose: Redis (7.0 at least) replays the
append-only file as a client of the `default` user and checks that user's permissions on every
MULTI/EXEC there, which is how a script's writes are logged. With `-@all` here a restart drops
every commit the services made (the server logs NOPERM while loading and starts without them)."""


def key_prefix(service: str) -> str:
    """Every key of `service` starts with this and a colon."""
    return f"shebao:{service}"


def key_pattern(service: str) -> str:
    return f"{key_prefix(service)}:*"


def service_user(service: str) -> str:
    return f"shebao-{service}"


def catalog_services() -> list[str]:
    """Every service of the contracts' catalog, in its order."""
    from shebao_contracts.catalog import CONTRACTS

    return [c.service for c in CONTRACTS]


def service_rules(service: str) -> tuple[str, ...]:
    """User `shebao-<service>`'s keys, channels and commands (no `on`, no password)."""
    if not service or any(c in service for c in " :*?[]\\"):
        raise ValueError(f"not a service name: {service!r}")
    return ("resetkeys", f"~{key_pattern(service)}", "resetchannels", *SERVICE_COMMANDS)


def password_hash(password: str) -> str:
    """The `#<sha256>` form: an ACL file holding it gives nobody the password."""
    if not password:
        raise ValueError("an empty password")
    return "#" + hashlib.sha256(password.encode()).hexdigest()


def user_rules(password: str, rules: Iterable[str]) -> list[str]:
    """`on`, exactly this password (hashed) and the rules: what `ACL SETUSER <user>` takes,
    idempotent (running it again leaves the same user)."""
    return ["on", "resetpass", password_hash(password), *rules]


def acl_users(admin_password: str, service_passwords: Mapping[str, str]) -> list[list[str]]:
    """[user, rule, ...] for the `default` user, the admin and every catalog service (each must
    have a password in `service_passwords`, by service name; others there are added too)."""
    services = catalog_services()
    missing = [s for s in services if s not in service_passwords]
    if missing:
        raise ValueError(f"no Redis password for {', '.join(missing)}")
    extra = sorted(s for s in service_passwords if s not in services)
    users = [["default", *DEFAULT_RULES], [ADMIN_USER, *user_rules(admin_password, ADMIN_RULES)]]
    users.extend(
        [service_user(s), *user_rules(service_passwords[s], service_rules(s))]
        for s in [*services, *extra]
    )
    return users


def acl_file(admin_password: str, service_passwords: Mapping[str, str]) -> str:
    """An ACL file (redis-server --aclfile) with every user; passwords only as hashes."""
    return "".join(
        "user " + " ".join(u) + "\n" for u in acl_users(admin_password, service_passwords)
    )


def setuser_commands(admin_password: str, service_passwords: Mapping[str, str]) -> str:
    """The same users as `ACL SETUSER` commands, one a line (for redis-cli on a running server:
    run as the admin, or as `default` on a server still open; `default` goes off last)."""
    users = acl_users(admin_password, service_passwords)
    users = [*users[1:], users[0]]
    return "".join("ACL SETUSER " + " ".join(u) + "\n" for u in users)
