#!/bin/sh
# A node's probes, as the admin (the `default` user is off):
#   redis-probe.sh live    the server answers (PONG, or busy loading its append-only file)
#   redis-probe.sh ready   it serves: PONG, the cluster is whole (every slot covered), and a
#                          replica's link to its master is up. A rolling update waits for it
#                          before it restarts the next pod, so a shard is never left without a
#                          synced copy by the update itself.
set -u
#   REDIS_ADMIN_PASSWORD_FILE (default /run/secrets/redis-admin/password) or REDIS_ADMIN_PASSWORD
export REDISCLI_AUTH
if [ -z "${REDIS_ADMIN_PASSWORD_FILE:-}" ] && [ -n "${REDIS_ADMIN_PASSWORD:-}" ]; then
  REDISCLI_AUTH=$REDIS_ADMIN_PASSWORD
else
  REDISCLI_AUTH=$(cat "${REDIS_ADMIN_PASSWORD_FILE:-/run/secrets/redis-admin/password}")
fi
cli() { redis-cli --no-auth-warning --user shebao-admin -h 127.0.0.1 -p 6379 "$@" 2>&1; }

pong=$(cli ping)
case "${1:-}" in
  live)
    case "$pong" in PONG | LOADING* | BUSY*) exit 0 ;; esac
    echo "ping: $pong"
    exit 1
    ;;
  ready)
    [ "$pong" = PONG ] || { echo "ping: $pong"; exit 1; }
    cli cluster info | grep -q '^cluster_state:ok' || { echo "cluster_state is not ok"; exit 1; }
    replication=$(cli info replication)
    if printf %s "$replication" | grep -q '^role:slave'; then
      printf %s "$replication" | grep -q '^master_link_status:up' \
        || { echo "replica: link to its master is down"; exit 1; }
    fi
    exit 0
    ;;
esac
echo "usage: redis-probe.sh live|ready" >&2
exit 2
