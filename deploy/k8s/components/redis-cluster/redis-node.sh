#!/bin/sh
# One node of the Redis Cluster: writes its configuration, refreshes the peers' addresses in
# its nodes.conf, and starts redis-server. The same script runs every node of the StatefulSet
# redis-cluster (this component) and of compose.redis-cluster.yaml.
#
#   REDIS_NODE_HOSTNAME        the name clients are sent to (MOVED, CLUSTER SLOTS), resolvable
#                              by every client: redis-cluster-0.redis-cluster
#   REDIS_NODE_IP              this node's address on the cluster bus (default: hostname -i)
#   REDIS_ACL_FILE             the users (password hashes only, shebao-infra redis-acl)
#   REDIS_ADMIN_PASSWORD_FILE  the admin's password, or REDIS_ADMIN_PASSWORD: a replica logs in
#                              to its master as shebao-admin, since `default` is off
#   REDIS_CONF                 where to write redis.conf (default /run/redis/redis.conf)
#   REDIS_MAXMEMORY            optional; eviction stays off (noeviction): state is never dropped
#   REDIS_DATA                 the data folder, on the volume (default /data)
# Arguments are passed on to redis-server.
set -eu

data=${REDIS_DATA:-/data}
conf=${REDIS_CONF:-/run/redis/redis.conf}
ip=${REDIS_NODE_IP:-$(hostname -i | awk '{print $1}')}
if [ -n "${REDIS_ADMIN_PASSWORD_FILE:-}" ]; then
  admin_password=$(cat "$REDIS_ADMIN_PASSWORD_FILE")
else
  admin_password=${REDIS_ADMIN_PASSWORD:?REDIS_ADMIN_PASSWORD_FILE or REDIS_ADMIN_PASSWORD}
fi

# nodes.conf (on the volume, with the data) keeps this node's ID, its shard and its peers across
# restarts. The addresses in it are IPs, which a restarted pod or container does not keep: put
# this node's current one on its own line, and each peer's current one (resolved from the
# hostname the peer announces, where the name resolves yet) on the peer's line. A peer that is
# not up yet keeps its old address; it tells the others its new one when it connects.
if [ -s "$data/nodes.conf" ]; then
  awk -v me="$ip" '
    $1 == "vars" || NF < 3 { print; next }
    {
      n = split($2, part, ",")
      addr = ""
      if ($3 ~ /myself/) addr = me
      else if (n >= 2 && part[2] != "") {
        cmd = "getent hosts " part[2]
        if ((cmd | getline found) > 0) { split(found, f, " "); addr = f[1] }
        close(cmd)
      }
      if (addr != "" && match(part[1], /:[0-9]+@[0-9]+$/)) {
        part[1] = addr substr(part[1], RSTART)
        line = part[1]
        for (i = 2; i <= n; i++) line = line "," part[i]
        $2 = line
      }
      print
    }' "$data/nodes.conf" >"$data/nodes.conf.new"
  mv "$data/nodes.conf.new" "$data/nodes.conf"
fi

umask 077
mkdir -p "$(dirname "$conf")"
cat >"$conf" <<CONF
port 6379
protected-mode no
dir $data
aclfile ${REDIS_ACL_FILE:-/etc/redis/users.acl}
# offsets, state and the outbox live here: the append-only file, fsynced every second
appendonly yes
appendfsync everysec
maxmemory-policy noeviction
${REDIS_MAXMEMORY:+maxmemory $REDIS_MAXMEMORY}
cluster-enabled yes
cluster-config-file $data/nodes.conf
# a master unreachable this long (ms) is failed over to its replica
cluster-node-timeout 5000
cluster-announce-hostname ${REDIS_NODE_HOSTNAME:?the name clients reach this node by}
cluster-preferred-endpoint-type hostname
masteruser shebao-admin
masterauth $admin_password
CONF

# The official image's entrypoint, run as root (compose), drops to its redis user.
if [ "$(id -u)" = 0 ] && command -v docker-entrypoint.sh >/dev/null; then
  set -- docker-entrypoint.sh redis-server "$conf" "$@"
else
  set -- redis-server "$conf" "$@"
fi
exec "$@"
