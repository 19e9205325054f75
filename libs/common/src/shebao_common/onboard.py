"""Onboard and offboard partners, and give services their principals, on a running cluster.

    python -m shebao_common.onboard partner add hospital h320102001 --password-file h.pw \
        [--partitions 64]
    python -m shebao_common.onboard partner remove hospital h320102001 [--delete-topics]
    python -m shebao_common.onboard service grant medical-settlement --password-file m.pw
    python -m shebao_common.onboard acls [--partners deploy/partners.toml]
    python -m shebao_common.onboard apply --secrets DIR [--partners deploy/partners.toml]

`partner add` creates the partner's topics (as the registry declares them), its SCRAM-SHA-512
credential and exactly the ACLs `shebao_contracts.access` gives it: it may then write its own
partner-in topics and read its own answers, and nothing else. With no password file given, a
password is drawn and written to `<kind>-<code>.password` (mode 0600) for the partner. `remove`
takes the credential and the ACLs away; the topics stay (claims and answers are records the
platform keeps) unless `--delete-topics` is given. `apply` does `service grant` for every service
of the catalog and `partner add` for every partner of the list, in one connection, with the
passwords in DIR (`shebao-<service>.password`, `<kind>-<code>.password`): compose's one-shot
`kafka-init` runs it before the services start.

The command connects as the operator, with the environment's Kafka identity (KAFKA_BOOTSTRAP_
SERVERS, KAFKA_SECURITY_PROTOCOL, KAFKA_USERNAME, KAFKA_PASSWORD_FILE, KAFKA_SSL_CAFILE); any
service image has it, e.g. `kubectl exec deploy/medical-settlement -- python -m ...` with the
admin secret mounted, or `uv run python -m ...` against `make infra-up`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import sys
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shebao_contracts import access
from shebao_contracts.catalog import CONTRACTS, all_topics
from shebao_contracts.topics import Direction, Registry, ServiceContract, Topic

from .kafka_admin import grant, revoke
from .kafka_security import client_options


@contextlib.asynccontextmanager
async def operator(bootstrap: str | None = None) -> AsyncIterator[AIOKafkaAdminClient]:
    """An admin client with the environment's (the operator's) identity."""
    admin = AIOKafkaAdminClient(**client_options(bootstrap=bootstrap), client_id="shebao-onboard")
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def create_topics(
    admin: AIOKafkaAdminClient,
    topics: Iterable[tuple[str, int, dict[str, str]]],
    replication: int = 1,
) -> list[str]:
    """Create the (name, partitions, configs) that do not exist yet; the names created."""
    existing = set(await admin.list_topics())
    new = [NewTopic(n, p, replication, topic_configs=c) for n, p, c in topics if n not in existing]
    if new:
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(new)
    return [t.name for t in new]


def partner_topic_configs(topic: Topic) -> dict[str, str]:
    """What a partner writes is stamped with the broker's clock (LogAppendTime): the platform
    takes `ce_time` as the moment of receipt and refuses one later than the record's timestamp
    (`shebao_contracts.limits.MAX_CLOCK_SKEW_SECONDS`), so a sender cannot move it."""
    if topic.direction is Direction.PARTNER_IN:
        return {"message.timestamp.type": "LogAppendTime"}
    return {}


async def onboard_partner(
    admin: AIOKafkaAdminClient,
    partner: access.Partner,
    password: str,
    *,
    registry: Registry | None = None,
    replication: int = 1,
    partitions: int | None = None,
) -> list[str]:
    """The partner's topics, credential and ACLs; the topics it was given. `partitions`: the
    topics' partition count, by default the registry's; where a service reading them keeps its
    state partitioned, it must be that service's (`SHEBAO_<SERVICE>_TOPIC_PARTITIONS`), which
    refuses or leaves unread a topic of another count (docs/CAPACITY.md)."""
    reg = all_topics() if registry is None else registry
    topics = access.partner_topics(partner, reg)
    await create_topics(
        admin,
        [(name, partitions or t.partitions, partner_topic_configs(t)) for t, name in topics],
        replication,
    )
    await grant(admin, partner.user, password, access.partner_acls(partner, reg))
    return [name for _, name in topics]


async def offboard_partner(
    admin: AIOKafkaAdminClient,
    partner: access.Partner,
    *,
    registry: Registry | None = None,
    delete_topics: bool = False,
) -> None:
    await revoke(admin, partner.user)
    if delete_topics:
        reg = all_topics() if registry is None else registry
        names = [name for _, name in access.partner_topics(partner, reg)]
        existing = set(await admin.list_topics())
        gone = [n for n in names if n in existing]
        if gone:
            await admin.delete_topics(gone)


async def grant_service(
    admin: AIOKafkaAdminClient, contract: ServiceContract, password: str
) -> str:
    """The service's principal with exactly its contract's ACLs; its user name."""
    user = access.service_user(contract.service)
    await grant(admin, user, password, access.service_acls(contract))
    return user


def _password(path: str | None, default: Path) -> tuple[str, Path | None]:
    """The password in `path`; or a new one written to `default` (0600)."""
    if path is not None:
        return Path(path).read_text().strip(), None
    pw = secrets.token_urlsafe(24)
    fd = os.open(default, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(pw + "\n")
    return pw, default


async def apply(
    admin: AIOKafkaAdminClient,
    secrets_dir: Path,
    partners: Iterable[access.Partner],
    login_timeout: float = 60.0,
) -> list[str]:
    """Every service's principal and every listed partner, with the passwords in `secrets_dir`
    (a missing file is an error: nobody is given a password drawn here); the users granted, once
    each can log in (`until_they_log_in`)."""
    granted: dict[str, str] = {}
    for contract in CONTRACTS:
        path = secrets_dir / f"{access.service_user(contract.service)}.password"
        pw = path.read_text().strip()
        granted[await grant_service(admin, contract, pw)] = pw
    for partner in partners:
        pw = (secrets_dir / f"{partner.user}.password").read_text().strip()
        await onboard_partner(admin, partner, pw)
        granted[partner.user] = pw
    await until_they_log_in(granted, login_timeout)
    return list(granted)


async def until_they_log_in(users: dict[str, str], timeout: float) -> None:
    """Wait until the broker takes each user's password. A credential is written to the
    controller and reaches the brokers a moment later (KRaft's metadata log): a client that
    connects at once, e.g. a service compose starts as soon as `kafka-init` exits, is refused
    until then. Nothing to wait for on a listener without SASL."""
    base = client_options()
    if not str(base.get("security_protocol", "")).startswith("SASL"):
        return
    for user, password in users.items():
        deadline = asyncio.get_running_loop().time() + timeout
        opts = {
            **base,
            "sasl_mechanism": "SCRAM-SHA-512",  # the credential `grant` writes
            "sasl_plain_username": user,
            "sasl_plain_password": password,
        }
        while True:
            client = AIOKafkaAdminClient(**opts, client_id="shebao-onboard-check")
            try:
                await client.start()
                break
            except Exception as exc:
                if asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError(
                        f"{user} was granted but cannot log in after {timeout:.0f}s: {exc}"
                    ) from exc
                await asyncio.sleep(0.2)
            finally:
                with contextlib.suppress(Exception):
                    await client.close()


async def _main(args: argparse.Namespace) -> int:
    if args.cmd == "apply":
        partners = access.load_partners(Path(args.partners)) if args.partners else []
        async with operator() as admin:
            users = await apply(admin, Path(args.secrets), partners)
        print(f"granted {len(users)} principals: {', '.join(users)}")
        return 0
    if args.cmd == "acls":
        partners = access.load_partners(Path(args.partners)) if args.partners else []
        for user, acls in access.all_acls(CONTRACTS, partners, all_topics()).items():
            for a in acls:
                print(f"{user}\t{a.resource.name}\t{a.pattern.name}\t{a.name}\t{a.operation.name}")
        return 0
    async with operator() as admin:
        if args.cmd == "partner":
            partner = access.Partner(args.kind, args.code)
            if args.action == "add":
                pw, written = _password(args.password_file, Path(f"{partner.user}.password"))
                names = await onboard_partner(
                    admin, partner, pw, replication=args.replication, partitions=args.partitions
                )
                print(f"{partner.user}: may write/read {', '.join(names)}")
                if written is not None:
                    print(f"its password is in {written}: hand it to the partner, then delete it")
            else:
                await offboard_partner(admin, partner, delete_topics=args.delete_topics)
                print(f"{partner.user}: credential and ACLs removed")
            return 0
        contract = next((c for c in CONTRACTS if c.service == args.service), None)
        if contract is None:
            print(f"no service {args.service!r} in the catalog", file=sys.stderr)
            return 2
        pw, written = _password(args.password_file, Path(f"shebao-{args.service}.password"))
        user = await grant_service(admin, contract, pw)
        print(f"{user}: {len(access.service_acls(contract))} ACLs")
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shebao_common.onboard", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("partner", help="onboard or offboard a partner")
    p.add_argument("action", choices=("add", "remove"))
    p.add_argument("kind", choices=access.partner_kinds(all_topics()))
    p.add_argument("code")
    p.add_argument("--password-file")
    p.add_argument("--replication", type=int, default=1)
    p.add_argument(
        "--partitions",
        type=int,
        help="the topics' partition count (default: the registry's); the services' "
        "SHEBAO_<SERVICE>_TOPIC_PARTITIONS where their state is partitioned",
    )
    p.add_argument("--delete-topics", action="store_true")
    s = sub.add_parser("service", help="a service's principal and ACLs")
    s.add_argument("action", choices=("grant",))
    s.add_argument("service")
    s.add_argument("--password-file")
    a = sub.add_parser("acls", help="print every principal's ACLs (from the registry)")
    a.add_argument("--partners", help="the partner list (TOML), e.g. deploy/partners.toml")
    g = sub.add_parser("apply", help="every service's principal and every listed partner")
    g.add_argument("--secrets", required=True, help="the folder of the passwords")
    g.add_argument("--partners", help="the partner list (TOML), e.g. deploy/partners.toml")
    return asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
