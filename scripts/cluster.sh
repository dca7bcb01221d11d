#!/usr/bin/env bash
# A three-node RabbitMQ cluster on loopback, beside the default broker (never on 5672/15672), for
# adtop's cluster tests and for trying failover by hand.
#
#   scripts/cluster.sh start      start (or join up) the three nodes; prints shell exports:
#                                 ADTOP_CLUSTER_BROKERS (space-separated amqp:// URLs),
#                                 ADTOP_CLUSTER_MGMT (space-separated http:// URLs), ADTOP_CLUSTER_NODES
#   scripts/cluster.sh stop       stop every node and delete the cluster's data
#   scripts/cluster.sh kill N     SIGKILL node N (1-3), as a crashed machine would
#   scripts/cluster.sh revive N   start node N again after a kill; it rejoins with its data
#   scripts/cluster.sh status     each node's name, ports and whether it answers
#
# Node N listens for AMQP on 127.0.0.1:$((base+N)), management on $((mgmt_base+N)) and Erlang
# distribution on $((dist_base+N)); ADTOP_CLUSTER_PORT_BASE moves all of them (default 5700: nodes on
# 5701-5703, 15701-15703, 25701-25703). Data lives under ADTOP_CLUSTER_DIR (default
# /var/tmp/adtop-cluster), owned by the rabbitmq user. Erlang's cookie is the rabbitmq user's, so the
# nodes and rabbitmqctl trust each other. Guest may log in from loopback only, as on the default broker.
set -euo pipefail

base=${ADTOP_CLUSTER_PORT_BASE:-5700}
mgmt_base=$((base + 10000))
dist_base=$((base + 20000))
dir=${ADTOP_CLUSTER_DIR:-/var/tmp/adtop-cluster}
bin=/usr/lib/rabbitmq/bin
nodes=(1 2 3)

die() { echo "cluster.sh: $*" >&2; exit 2; }
[ -x "$bin/rabbitmq-server" ] || die "rabbitmq-server is not installed (apt-get install rabbitmq-server)"
[ "$(id -u)" = 0 ] || die "run as root: the nodes run as the rabbitmq user"

name() { echo "adtop-c$1@localhost"; }

# Run a RabbitMQ command as the rabbitmq user with node N's environment.
as_node() {
  local n=$1; shift
  local d="$dir/c$n"
  runuser -u rabbitmq -- env -i PATH=/usr/bin:/bin:/usr/sbin HOME=/var/lib/rabbitmq LANG=C.UTF-8 \
    RABBITMQ_CONF_ENV_FILE="$d/rabbitmq-env.conf" \
    RABBITMQ_NODENAME="$(name "$n")" \
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT=$((base + n)) \
    RABBITMQ_DIST_PORT=$((dist_base + n)) \
    RABBITMQ_MNESIA_BASE="$d/mnesia" \
    RABBITMQ_LOG_BASE="$d/log" \
    RABBITMQ_PID_FILE="$d/pid" \
    RABBITMQ_CONFIG_FILE="$d/rabbitmq" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins" \
    ERL_EPMD_ADDRESS=127.0.0.1 \
    "$@"
}

ctl() { local n=$1; shift; as_node "$n" "$bin/rabbitmqctl" -q -n "$(name "$n")" "$@"; }

prepare() {
  local n=$1 d="$dir/c$1"
  mkdir -p "$d/mnesia" "$d/log"
  : >"$d/rabbitmq-env.conf"
  cat >"$d/rabbitmq.conf" <<EOF
listeners.tcp.local = 127.0.0.1:$((base + n))
management.tcp.ip = 127.0.0.1
management.tcp.port = $((mgmt_base + n))
cluster_partition_handling = pause_minority
EOF
  echo '[rabbitmq_management].' >"$d/enabled_plugins"
  chown -R rabbitmq:rabbitmq "$dir"
}

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

boot() {
  local n=$1
  answers $((base + n)) && return 0
  as_node "$n" "$bin/rabbitmq-server" -detached
}

# await_startup fails at once while a detached node has not reached epmd yet: retry that.
await() {
  local n=$1 until=$((SECONDS + 180))
  while [ "$SECONDS" -lt "$until" ]; do
    ctl "$n" await_startup --timeout 30 >/dev/null 2>&1 && return 0
    sleep 1
  done
  die "node $(name "$n") did not start; see $dir/c$n/log"
}

exports() {
  local amqp=() mgmt=() names=()
  for n in "${nodes[@]}"; do
    amqp+=("amqp://guest:guest@127.0.0.1:$((base + n))/%2f")
    mgmt+=("http://127.0.0.1:$((mgmt_base + n))")
    names+=("$(name "$n")")
  done
  echo "export ADTOP_CLUSTER_BROKERS='${amqp[*]}'"
  echo "export ADTOP_CLUSTER_MGMT='${mgmt[*]}'"
  echo "export ADTOP_CLUSTER_NODES='${names[*]}'"
}

start() {
  for n in "${nodes[@]}"; do prepare "$n"; done
  # Nodes boot in parallel; joining needs them up.
  for n in "${nodes[@]}"; do boot "$n" >&2; done
  for n in "${nodes[@]}"; do await "$n"; done
  for n in 2 3; do
    if ! ctl "$n" cluster_status --formatter json | grep -q "$(name 1)"; then
      ctl "$n" stop_app
      ctl "$n" join_cluster "$(name 1)"
      ctl "$n" start_app
    fi
  done
  for n in "${nodes[@]}"; do
    for _ in $(seq 1 60); do answers $((mgmt_base + n)) && break; sleep 1; done
  done
  exports
}

# The node's Erlang VM: the process listening on its AMQP port, or on its distribution port
# (the pid file does not survive a kill and a revive, and the node name is not on the command
# line). A node that boots, or waits for its peers' tables after they went, listens on its
# distribution port only: found by the AMQP port alone it outlived `stop`, held the port and the
# node name, and the next `start` failed.
pid_of() {
  local p port
  for port in $((base + $1)) $((dist_base + $1)); do
    p=$(ss -Hltnp "sport = :$port" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
    [ -n "$p" ] && { echo "$p"; return 0; }
  done
  return 1
}

case "${1:-}" in
  start) start ;;
  stop)
    for n in "${nodes[@]}"; do
      if answers $((base + n)); then ctl "$n" stop >/dev/null 2>&1 || true; fi
      p=$(pid_of "$n" || true)
      [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true
    done
    rm -rf "$dir"
    ;;
  kill)
    n=${2:?which node: 1, 2 or 3}
    p=$(pid_of "$n") || die "node $n is not running"
    kill -9 "$p"
    # Wait until its port is closed, so callers observe the loss.
    for _ in $(seq 1 100); do answers $((base + n)) || exit 0; sleep 0.1; done
    die "node $n still answers after SIGKILL"
    ;;
  revive)
    n=${2:?which node: 1, 2 or 3}
    boot "$n" >&2
    await "$n"
    ;;
  status)
    for n in "${nodes[@]}"; do
      state=down
      answers $((base + n)) && state=up
      echo "$(name "$n") amqp 127.0.0.1:$((base + n)) management :$((mgmt_base + n)) $state"
    done
    ;;
  env) exports ;;
  *) sed -n '2,20p' "$0" >&2; exit 2 ;;
esac
