"""A local Redis Cluster: real redis-server processes on loopback, for tests of the cluster mode
(REDIS_URL=redis+cluster://[user[:pw]@]host:port[,host:port...]).

Each node is configured as `LocalRedis` is (append-only file, `default` user off, the catalog's
ACL users with one admin password for the whole cluster) plus cluster mode with a short node
timeout, so a killed master is replaced by its replica within seconds. The cluster is formed here
(CLUSTER ADDSLOTSRANGE / MEET / REPLICATE through redis-py, as the admin), not by
`redis-cli --cluster create`: no password on a command line, and nothing but redis-server needed.

Every password lives in files of mode 0600 (each node's `redis.conf` carries `masterauth`, so a
replica can sync as the admin with `default` off); none is on a command line, where `ps` shows it.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .local import (
    InfraError,
    _tail,
    ensure_redis_server,
    ephemeral_low,
    free_port,
    stop_pid,
    write_secret,
)

if TYPE_CHECKING:
    import redis

SLOTS = 16384
NODE_TIMEOUT_MS = 2000
"""cluster-node-timeout: a master unreachable this long is marked failing and its replica takes
over about a second later (the default, 15 s, would make every failover test wait that long)."""


@dataclass
class RedisNode:
    """One redis-server of the cluster: its port, its folder (config, AOF, nodes.conf, log)."""

    port: int
    data_dir: Path
    pid: int | None = None
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None


@dataclass
class LocalRedisCluster:
    """`masters` masters with `replicas` replicas each, every node a redis-server on 127.0.0.1 in
    a folder of its own under `data_dir`. `url` is the admin's redis+cluster:// URL."""

    data_dir: Path
    masters: int = 3
    replicas: int = 1
    admin_password: str = ""
    nodes: list[RedisNode] = field(default_factory=list)
    seeds: list[tuple[str, int]] = field(default_factory=list)
    """The first masters' addresses: what a client is given to find the cluster. A seed may be a
    replica (or down) after a failover; a client asks the next one."""

    # addresses and credentials -------------------------------------------------------------

    @property
    def url(self) -> str:
        """redis+cluster://shebao-admin:<password>@127.0.0.1:<p1>,127.0.0.1:<p2>,..."""
        from .redis_users import ADMIN_USER, with_credentials

        hosts = ",".join(f"{h}:{p}" for h, p in self.seeds)
        return with_credentials(f"redis+cluster://{hosts}", ADMIN_USER, self.admin_password)

    def node(self, port: int) -> RedisNode:
        for n in self.nodes:
            if n.port == port:
                return n
        raise KeyError(f"no node of this cluster on port {port}")

    def client(self, port: int, timeout: float = 2.0) -> redis.Redis:
        """The admin's plain (non-cluster) connection to one node."""
        import redis

        from .redis_users import ADMIN_USER

        return redis.Redis(
            host="127.0.0.1",
            port=port,
            username=ADMIN_USER,
            password=self.admin_password,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
        )

    def _ask(self, port: int, *args: Any) -> Any:
        c = self.client(port)
        try:
            return c.execute_command(*args)  # type: ignore[no-untyped-call]
        finally:
            c.close()

    # start ---------------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> LocalRedisCluster:
        """Start every node, form the cluster and wait until it serves every slot with every
        master's replicas in sync. On failure every node is stopped again (InfraError, with the
        logs' tails)."""
        if self.masters < 1 or self.replicas < 0:
            raise ValueError("a cluster needs at least one master and no negative replicas")
        from .redis_users import new_password

        exe = ensure_redis_server()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.admin_password = new_password()
        count = self.masters * (1 + self.replicas)
        self.nodes = [
            RedisNode(port, self.data_dir / f"node-{port}") for port in _distinct_free_ports(count)
        ]
        self.seeds = [("127.0.0.1", n.port) for n in self.nodes[: self.masters]]
        deadline = time.monotonic() + timeout
        try:
            for n in self.nodes:
                self._configure(n)
                self._spawn(exe, n)
            for n in self.nodes:
                self._wait_answers(n, deadline)
            self._form()
            self.wait_healthy(max(1.0, deadline - time.monotonic()))
        except BaseException as exc:
            self.stop()
            if not isinstance(exc, Exception):  # Ctrl-C while waiting: nothing left running
                raise
            if isinstance(exc, InfraError):
                raise
            raise InfraError(f"the Redis cluster did not come up: {exc}\n{self.logs()}") from exc
        return self

    def _configure(self, n: RedisNode) -> None:
        from .redis_users import ADMIN_USER, derived_acl_file

        n.data_dir.mkdir(parents=True, exist_ok=True)
        write_secret(n.data_dir / "users.acl", derived_acl_file(self.admin_password))
        conf = [
            f"port {n.port}",
            "bind 127.0.0.1",
            "protected-mode yes",
            "daemonize no",
            f'dir "{n.data_dir}"',
            f'logfile "{n.data_dir / "redis.log"}"',
            f'aclfile "{n.data_dir / "users.acl"}"',
            "appendonly yes",
            "appendfsync everysec",
            'save ""',
            "cluster-enabled yes",
            "cluster-config-file nodes.conf",
            f"cluster-node-timeout {NODE_TIMEOUT_MS}",
            # 0: a replica may take over however long its link to the master has been down
            # (by default one that has been cut off for 10 node timeouts may not)
            "cluster-replica-validity-factor 0",
            # a replica's first full sync starts at once, not 5 s later (the default delay
            # waits for more replicas to share one transfer; each master here has one or two)
            "repl-diskless-sync-delay 0",
            # replicas sync as the admin: `default`, which a replica would otherwise use, is off
            f"masteruser {ADMIN_USER}",
            f"masterauth {self.admin_password}",
        ]
        write_secret(n.data_dir / "redis.conf", "\n".join(conf) + "\n")

    def _spawn(self, exe: str, n: RedisNode) -> None:
        n._proc = subprocess.Popen(
            [exe, str(n.data_dir / "redis.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        n.pid = n._proc.pid

    def _wait_answers(self, n: RedisNode, deadline: float) -> None:
        """PING answered and the AOF loaded."""
        import redis

        c = self.client(n.port, timeout=1.0)
        try:
            while time.monotonic() < deadline:
                if not n.alive:
                    raise InfraError(
                        f"redis-server on port {n.port} exited\n{_tail(n.data_dir / 'redis.log')}"
                    )
                with contextlib.suppress(redis.exceptions.ConnectionError):
                    if c.ping() and not c.info("persistence").get("loading"):
                        return
                time.sleep(0.1)
        finally:
            c.close()
        raise TimeoutError(f"redis-server on port {n.port} did not answer PING")

    def _form(self) -> None:
        """Slots in equal ranges to the first `masters` nodes, every node met, each remaining
        node a replica of one master (in turn), as `redis-cli --cluster create` does it."""
        masters, rest = self.nodes[: self.masters], self.nodes[self.masters :]
        for i, m in enumerate(masters):
            first = i * SLOTS // self.masters
            last = (i + 1) * SLOTS // self.masters - 1
            # distinct config epochs, so the slots' owners are settled without a collision round
            self._ask(m.port, "CLUSTER", "SET-CONFIG-EPOCH", i + 1)
            self._ask(m.port, "CLUSTER", "ADDSLOTSRANGE", first, last)
        for n in self.nodes[1:]:
            self._ask(self.nodes[0].port, "CLUSTER", "MEET", "127.0.0.1", n.port)
        ids = {n.port: _text(self._ask(n.port, "CLUSTER", "MYID")) for n in self.nodes}
        self._until(lambda: self._everyone_known(ids), 20.0, "the nodes did not all meet")
        for j, r in enumerate(rest):
            self._ask(r.port, "CLUSTER", "REPLICATE", ids[masters[j % self.masters].port])

    def _everyone_known(self, ids: dict[int, str]) -> bool:
        for port in ids:
            known = {
                line.split()[0]
                for line in self._cluster_nodes(port)
                if "handshake" not in line.split()[2].split(",")
            }
            if not set(ids.values()) <= known:
                return False
        return True

    # state ---------------------------------------------------------------------------------

    def _cluster_nodes(self, port: int) -> list[str]:
        return [ln for ln in _text(self._ask(port, "CLUSTER", "NODES")).splitlines() if ln]

    def _live(self) -> list[RedisNode]:
        return [n for n in self.nodes if n.alive]

    def _slot_owners(self, port: int) -> list[tuple[int, int, int]]:
        """(first slot, last slot, master's port) of every served range, as `port` sees it."""
        return [(int(r[0]), int(r[1]), int(r[2][1])) for r in self._ask(port, "CLUSTER", "SLOTS")]

    def master_ports(self) -> list[int]:
        """The ports of the nodes that serve slots now (asked from a live node)."""
        owners = self._slot_owners(self._live()[0].port)
        return sorted({p for _, _, p in owners})

    def master_for_key(self, key: str) -> int:
        """The port of the node serving `key`'s slot now."""
        port = self._live()[0].port
        slot = int(self._ask(port, "CLUSTER", "KEYSLOT", key))
        for first, last, owner in self._slot_owners(port):
            if first <= slot <= last:
                return owner
        raise InfraError(f"no node serves slot {slot} (key {key!r})")

    def _state_ok(self, port: int) -> bool:
        return "cluster_state:ok" in _text(self._ask(port, "CLUSTER", "INFO"))

    def _covered_by(self, port: int) -> set[int] | None:
        """The masters' ports if `port` sees every slot served, else None."""
        owners = self._slot_owners(port)
        if sum(last - first + 1 for first, last, _ in owners) != SLOTS:
            return None
        return {p for _, _, p in owners}

    def _healthy(self) -> bool:
        live = self._live()
        if len(live) != len(self.nodes):
            return False
        for n in live:
            if not self._state_ok(n.port):
                return False
            lines = [ln.split() for ln in self._cluster_nodes(n.port)]
            flags = {f[0]: set(f[2].split(",")) for f in lines}
            if len(lines) != len(self.nodes) or any(
                {"fail", "fail?", "handshake", "noaddr"} & flags[f[0]] or f[7] != "connected"
                for f in lines
            ):
                return False
            masters = {f[0] for f in lines if "master" in flags[f[0]] and len(f) > 8}
            if len(masters) != self.masters:
                return False
            for m in masters:
                if sum(1 for f in lines if f[3] == m) < self.replicas:
                    return False
        owners = self._covered_by(live[0].port)
        if owners is None or len(owners) != self.masters:
            return False
        for n in live:
            c = self.client(n.port)
            try:
                info = c.info("replication")
            finally:
                c.close()
            if n.port not in owners:  # a replica, its link to its master up
                if info["role"] != "slave" or info.get("master_link_status") != "up":
                    return False
                continue
            # a master: its replicas past their first sync (`online`, not `wait_bgsave`)
            states = [v for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)]
            if info["role"] != "master" or (
                sum(1 for v in states if v.get("state") == "online") < self.replicas
            ):
                return False
        return True

    def _until(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        import redis

        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                if check():
                    return
            except (redis.exceptions.RedisError, OSError, IndexError) as exc:
                last = exc  # a node still loading, or the one just killed
            time.sleep(0.2)
        raise InfraError(f"{what} within {timeout:.0f}s (last error: {last})\n{self.logs()}")

    def wait_healthy(self, timeout: float = 60.0) -> None:
        """Every node up, `cluster_state:ok` everywhere, every slot served, every master with
        `replicas` replicas whose replication link is up."""
        self._until(self._healthy, timeout, "the Redis cluster did not become healthy")

    # faults --------------------------------------------------------------------------------

    def kill(self, port: int) -> None:
        """SIGKILL one node: what its AOF had not fsynced is lost on it (not on its replica, for
        writes a WAIT confirmed)."""
        n = self.node(port)
        if n.pid is not None:
            stop_pid(n.pid, sig=signal.SIGKILL)
        n.pid, n._proc = None, None

    def wait_failover(self, old_port: int, timeout: float = 30.0) -> None:
        """Wait until every slot is served by a node other than `old_port` and every live node
        says `cluster_state:ok`."""

        def done() -> bool:
            live = self._live()
            for n in live:
                owners = self._covered_by(n.port)
                if owners is None or old_port in owners or not self._state_ok(n.port):
                    return False
            return bool(live)

        self._until(done, timeout, f"no failover of the master on port {old_port}")

    def revive(self, port: int, timeout: float = 30.0) -> None:
        """Start a killed node again on its port, with its data and nodes.conf: it rejoins, as a
        replica of the master that replaced it when there was a failover."""
        n = self.node(port)
        if n.alive:
            raise InfraError(f"the node on port {port} is running")
        self._spawn(ensure_redis_server(), n)
        self._wait_answers(n, time.monotonic() + timeout)

    # stop ----------------------------------------------------------------------------------

    def fail_over(self, key: str) -> tuple[int, int]:
        """SIGKILL the master serving `key`'s slot, wait until its replica has taken over, bring
        the killed node back (as the new master's replica) and wait until all is healthy again:
        (the old master's port, the new one's)."""
        port = self.master_for_key(key)
        self.kill(port)
        self.wait_failover(port)
        now = self.master_for_key(key)
        self.revive(port)
        self.wait_healthy()
        return port, now

    def stop(self) -> None:
        """SIGTERM every node (each fsyncs its AOF), SIGKILL after 20 s."""
        for n in self.nodes:
            if n.pid is not None:
                stop_pid(n.pid, timeout=20.0)
            n.pid, n._proc = None, None

    def logs(self, lines: int = 15) -> str:
        return "\n".join(
            f"--- node {n.port}\n{_tail(n.data_dir / 'redis.log', lines)}" for n in self.nodes
        )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _distinct_free_ports(count: int) -> list[int]:
    """`count` different free ports. A cluster node also listens on its port + 10000 (the
    cluster bus), so that one must be free as well, below 65536, and, like the port itself
    (`free_port`), below the kernel's ephemeral range where that leaves room."""
    import socket

    low = ephemeral_low()
    ports: list[int] = []
    while len(ports) < count:
        p = free_port()
        taken = {*ports, *(q + 10000 for q in ports)}
        if p in taken or p + 10000 > 65535 or p + 10000 in taken:
            continue
        if low > 21_000 and p + 10000 >= low:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", p + 10000))
            except OSError:
                continue
        ports.append(p)
    return ports


__all__ = ["LocalRedisCluster", "RedisNode"]
