#!/bin/sh
# Forms the Redis Cluster once: 3 masters, each with 1 replica, from the nodes named in the
# arguments (host:port). Idempotent: a cluster that is already formed is left as it is (exit 0);
# nodes that are neither all fresh nor a formed cluster are left for an operator (exit 1, with
# what to run). Run by the Job redis-cluster-create and by compose's redis-cluster-init.
#   REDIS_ADMIN_PASSWORD_FILE or REDIS_ADMIN_PASSWORD   the admin's password
set -u
[ $# -ge 6 ] || { echo "usage: redis-cluster-create.sh host:port x6" >&2; exit 2; }
export REDISCLI_AUTH
if [ -n "${REDIS_ADMIN_PASSWORD_FILE:-}" ]; then
  REDISCLI_AUTH=$(cat "$REDIS_ADMIN_PASSWORD_FILE")
else
  REDISCLI_AUTH=${REDIS_ADMIN_PASSWORD:?REDIS_ADMIN_PASSWORD_FILE or REDIS_ADMIN_PASSWORD}
fi
cli() { node=$1; shift; redis-cli --no-auth-warning --user shebao-admin \
  -h "${node%:*}" -p "${node##*:}" "$@" 2>&1; }
field() { printf %s "$1" | tr -d '\r' | sed -n "s/^$2://p"; }

# Wait for every node to answer (a pod is scheduled, its volume attached, its file loaded).
for node in "$@"; do
  tries=0
  until [ "$(cli "$node" ping)" = PONG ]; do
    tries=$((tries + 1))
    [ "$tries" -lt 150 ] || { echo "$node does not answer"; exit 1; }
    sleep 2
  done
done

fresh=0
for node in "$@"; do
  info=$(cli "$node" cluster info)
  known=$(field "$info" cluster_known_nodes)
  slots=$(field "$info" cluster_slots_assigned)
  if [ "$(field "$info" cluster_state)" = ok ] && [ "$slots" = 16384 ] && [ "$known" -ge $# ]; then
    echo "the cluster is formed ($node: state ok, $known nodes, every slot assigned): nothing to do"
    exit 0
  fi
  if [ "$known" = 1 ] && [ "$slots" = 0 ] && [ "$(cli "$node" dbsize)" = 0 ]; then
    fresh=$((fresh + 1))
  fi
done
if [ "$fresh" != $# ]; then
  echo "neither a formed cluster nor $# fresh nodes: look with"
  echo "  redis-cli --user shebao-admin --cluster check $1"
  exit 1
fi

# CLUSTER MEET takes addresses, not names: each node is given by its current IP. Clients still
# reach the nodes by the hostname each announces (cluster-announce-hostname).
addrs=""
for node in "$@"; do
  ip=$(getent hosts "${node%:*}" | awk '{print $1; exit}')
  [ -n "$ip" ] || { echo "cannot resolve ${node%:*}"; exit 1; }
  addrs="$addrs $ip:${node##*:}"
done
echo "forming the cluster from$addrs"
# shellcheck disable=SC2086 # one word per node
redis-cli --no-auth-warning --user shebao-admin --cluster create $addrs \
  --cluster-replicas 1 --cluster-yes || exit 1
# create returns once the slots are assigned; wait until every node agrees.
for node in "$@"; do
  tries=0
  until [ "$(field "$(cli "$node" cluster info)" cluster_state)" = ok ]; do
    tries=$((tries + 1))
    [ "$tries" -lt 60 ] || { echo "$node: cluster_state is not ok"; exit 1; }
    sleep 1
  done
done
echo "the cluster is formed"
