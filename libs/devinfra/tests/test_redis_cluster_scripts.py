"""The Redis Cluster's node and create scripts (deploy/k8s/components/redis-cluster, also run by
compose.redis-cluster.yaml) on six local redis-server processes: the cluster forms with the ACL
users and `default` off, forming it again does nothing, and after all six stop and come back on
other addresses (as pods do) it is whole again with its keys.

Each node gets its own loopback address and its name from a hosts file bind-mounted over
/etc/hosts in a mount namespace of its own (`unshare -m`), so it needs root and redis-server 7.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from shebao_devinfra.cli import main
from shebao_devinfra.images import repo_root

pytestmark = pytest.mark.integration

SCRIPTS = repo_root() / "deploy/k8s/components/redis-cluster"
NODES = 6

RUN = r"""
set -u
S={scripts}; T={tmp}
export REDISCLI_AUTH=$(cat $T/users/shebao-admin.password)
admin() {{ redis-cli --no-auth-warning --user shebao-admin "$@"; }}
start() {{  # $1: the third byte of this round's addresses
  cp $T/hosts.orig $T/hosts.$1
  for i in 0 1 2 3 4 5; do echo "127.{net}.$1.$((i+2)) node-$i.rc" >> $T/hosts.$1; done
  mount --bind $T/hosts.$1 /etc/hosts
  for i in 0 1 2 3 4 5; do
    ip=127.{net}.$1.$((i+2)); mkdir -p $T/d$i
    REDIS_DATA=$T/d$i REDIS_CONF=$T/d$i/redis.conf \
    REDIS_NODE_HOSTNAME=node-$i.rc REDIS_NODE_IP=$ip \
    REDIS_ACL_FILE=$T/users/users.acl REDIS_ADMIN_PASSWORD_FILE=$T/users/shebao-admin.password \
      sh $S/redis-node.sh --bind $ip --bind-source-addr $ip --daemonize yes \
        --pidfile $T/d$i/pid --logfile $T/d$i/log || exit 1
  done
}}
create() {{
  REDIS_ADMIN_PASSWORD_FILE=$T/users/shebao-admin.password sh $S/redis-cluster-create.sh \
    node-0.rc:6379 node-1.rc:6379 node-2.rc:6379 node-3.rc:6379 node-4.rc:6379 node-5.rc:6379
}}
whole() {{
  for i in $(seq 60); do
    ok=0
    for n in 0 1 2 3 4 5; do
      admin -h node-$n.rc cluster info | grep -q '^cluster_state:ok' && ok=$((ok+1))
      admin -h node-$n.rc info replication | grep -q '^master_link_status:down' && ok=0
    done
    [ $ok = 6 ] && return 0
    sleep 1
  done
  echo "not whole"; return 1
}}
stop() {{ for i in 0 1 2 3 4 5; do kill $(cat $T/d$i/pid); done; sleep 2; }}
trap 'stop 2>/dev/null' EXIT

start 10; create || exit 1; whole || exit 1
echo "again: $(create | tail -1)"
for k in a b c d e f; do admin -c -h node-0.rc set shebao:welfare:$k v$k >/dev/null; done
REDISCLI_AUTH=$(cat $T/users/shebao-welfare.password) redis-cli --no-auth-warning \
  --user shebao-welfare -h node-0.rc ping
echo "unauthenticated: $(env -u REDISCLI_AUTH redis-cli -h node-0.rc get shebao:welfare:a 2>&1)"
stop
start 20; whole || exit 1
echo "after: $(create | tail -1)"
echo "masters: $(admin -h node-0.rc cluster nodes | awk '$3 ~ /master/ && $2 ~ /,node-/' | wc -l)"
printf 'keys:'
for k in a b c d e f; do printf ' %s' "$(admin -c -h node-0.rc get shebao:welfare:$k)"; done
echo
"""


def _usable() -> str | None:
    for tool in ("redis-server", "redis-cli", "unshare", "getent"):
        if shutil.which(tool) is None:
            return f"no {tool}"
    if os.geteuid() != 0:
        return "needs root (a mount namespace for /etc/hosts)"
    version = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True, check=False
    ).stdout
    if " v=" not in version or int(version.split(" v=")[1].split(".")[0]) < 7:
        return f"needs redis-server 7: {version.strip()}"
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        return "unshare -m is not permitted here"
    return None


def test_the_cluster_forms_once_and_survives_a_restart_of_all_nodes_on_new_addresses(
    tmp_path: Path,
) -> None:
    why = _usable()
    if why:
        pytest.skip(why)
    assert main(["redis-acl", str(tmp_path / "users")]) == 0
    script = RUN.format(scripts=SCRIPTS, tmp=tmp_path, net=random.randrange(64, 250))
    shutil.copy("/etc/hosts", tmp_path / "hosts.orig")
    run = subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    logs = "".join(
        f"\n--- node {i}\n" + (tmp_path / f"d{i}" / "log").read_text()[-1500:]
        for i in range(NODES)
        if (tmp_path / f"d{i}" / "log").exists()
    )
    out = run.stdout
    assert run.returncode == 0, out + run.stderr + logs
    assert "the cluster is formed\n" in out
    assert "again: the cluster is formed (" in out and "nothing to do" in out
    assert "PONG" in out, "a service's user logs in"
    assert "unauthenticated: NOAUTH" in out, "default is off"
    assert "after: the cluster is formed (" in out
    assert "masters: 3" in out, "three masters, announced by name"
    assert "keys: va vb vc vd ve vf" in out
