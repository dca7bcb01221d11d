#!/usr/bin/env bash
# Start and stop a real single-node OpenStack Swift (tempauth) on 127.0.0.1 for adtop's tests,
# from Debian's packages.
#
#   scripts/swift.sh start [DIR]        install if needed, start everything, print env lines
#   scripts/swift.sh stop [DIR]         kill what we started and remove DIR
#   scripts/swift.sh status [DIR]       exit 0 if the proxy answers
#   scripts/swift.sh stop-proxy [DIR]   kill only the proxy (the store "goes away"; data is kept)
#   scripts/swift.sh start-proxy [DIR]  start the proxy again on the same data
#   scripts/swift.sh env [DIR]          print the env lines only
#
# Usage: eval "$(scripts/swift.sh start)"  -- only the `export` lines go to stdout, everything
# else goes to stderr, and every server logs to DIR/log/*.log.
#
# DIR defaults to /tmp/adtop-swift. Env: ADTOP_SWIFT_PORT (proxy, default 8080),
# ADTOP_SWIFT_BACKEND_PORT (first of account/container/object, default 6210 for proxy 8080,
# else proxy+1), ADTOP_SWIFT_MEMCACHED_PORT (default: first backend port + 3, so 6213).
#
# Debian's python3-swift ships the code but no swift-init, server commands or swift-ring-builder,
# and Swift reads /etc/swift/swift.conf unless told otherwise. So each server is run by a small
# python launcher (written into DIR) that points Swift at DIR/etc first, and the rings are built
# with Swift's own RingBuilder; nothing is written to /etc/swift.
set -euo pipefail

cmd="${1:-}"
# Absolute, because it goes into the servers' configs and is matched against their command lines.
dir="$(realpath -m "${2:-/tmp/adtop-swift}")"
# Debian's swift modules are installed for the system python; a pyenv python on PATH lacks them.
py=/usr/bin/python3

etc="$dir/etc"
run="$dir/run"
logd="$dir/log"
state="$dir/state.env"
marker="$dir/.adtop-swift"   # stop refuses to rm -rf a dir without it
servers=(account container object)

say() { printf 'swift.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# Ports: backend ports are baked into the rings, so once chosen they come from DIR/state.env.
# The proxy port is not in the rings; the env wins over the saved one.
load_state() {
  proxy_port="" backend_port="" memcached_port="" data_dir="" data_mounted=""
  # shellcheck disable=SC1090
  if [ -f "$state" ]; then . "$state"; fi
  proxy_port="${ADTOP_SWIFT_PORT:-${proxy_port:-8080}}"
  if [ -z "$backend_port" ]; then
    if [ -n "${ADTOP_SWIFT_BACKEND_PORT:-}" ]; then backend_port="$ADTOP_SWIFT_BACKEND_PORT"
    elif [ "$proxy_port" = 8080 ]; then backend_port=6210
    else backend_port=$((proxy_port + 1)); fi
  fi
  # Each Swift gets a memcached of its own, never a shared one (such as a system memcached on
  # 11211): the proxy caches account/container existence and tempauth tokens there, so two
  # Swifts on one memcached see each other's accounts (container PUTs then fail with 404) and
  # accept each other's tokens.
  memcached_port="${memcached_port:-${ADTOP_SWIFT_MEMCACHED_PORT:-$((backend_port + 3))}}"
}

save_state() {
  local v
  for v in proxy_port backend_port memcached_port data_dir data_mounted; do
    printf '%s=%q\n' "$v" "${!v}"
  done >"$state"
}

server_port() {  # account -> backend_port, container -> +1, object -> +2
  case "$1" in
    proxy) echo "$proxy_port" ;;
    account) echo "$backend_port" ;;
    container) echo $((backend_port + 1)) ;;
    object) echo $((backend_port + 2)) ;;
  esac
}

print_env() {
  local base="http://127.0.0.1:$proxy_port"
  cat <<EOF
export ADTOP_TEST_SWIFT_AUTH=$base/auth/v1.0
export ADTOP_TEST_SWIFT_USER=test:tester
export ADTOP_TEST_SWIFT_KEY=testing
export ADTOP_TEST_SWIFT_USER2=test2:tester2
export ADTOP_TEST_SWIFT_KEY2=testing2
export ADTOP_TEST_SWIFT_USER_RO=test:reader
export ADTOP_TEST_SWIFT_KEY_RO=reading
EOF
}

# "Answers" means /healthcheck says OK: a port that merely accepts connections may be another
# program.
healthy() { [ "$(curl -fsS -m 2 "http://127.0.0.1:$1/healthcheck" 2>/dev/null)" = OK ]; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Only the proxy with tempauth and memcached behind it hands out tokens, so a 200 here means
# the whole front is up.
auth_ok() {
  [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' -H 'X-Auth-User: test:tester' \
        -H 'X-Auth-Key: testing' "http://127.0.0.1:$proxy_port/auth/v1.0")" = 200 ]
}

wait_for() {  # wait_for WHAT COMMAND...: poll for up to 30 s
  local what="$1"; shift
  local i
  for i in $(seq 150); do
    if "$@"; then return 0; fi
    sleep 0.2
  done
  die "$what did not come up within 30 s; see $logd/"
}

# A pid file alone is not proof: the pid may have been reused, so also check that the process
# was started with this state dir on its command line.
pid_alive() {
  local pidf="$run/$1.pid" pid
  [ -f "$pidf" ] || return 1
  pid="$(cat "$pidf")"
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$dir"
}

kill_pid() {
  local name="$1" pid i
  if pid_alive "$name"; then
    pid="$(cat "$run/$name.pid")"
    kill "$pid" 2>/dev/null || true
    for i in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    say "stopped $name (pid $pid)"
  fi
  rm -f "$run/$name.pid"
}

install_packages() {
  local sudo="" missing=() p
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  for p in python3-swift python3-swiftclient memcached curl; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ "${#missing[@]}" -gt 0 ] || return 0
  say "installing ${missing[*]}"
  # Try with the package lists as they are first (saves ~10 s); update only if that fails.
  if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >"$logd/apt.log" 2>&1; then
    $sudo apt-get update -qq >>"$logd/apt.log" 2>&1
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >>"$logd/apt.log" 2>&1 || { tail -20 "$logd/apt.log" >&2; die "apt-get failed"; }
  fi
}

# The object server keeps object metadata in user xattrs, written in 254-byte chunks
# (user.swift.metadata, user.swift.metadata1, ...); without them every object PUT fails.
xattr_ok() {
  "$py" - "$1" <<'EOF' 2>/dev/null
import os, sys, tempfile
fd, path = tempfile.mkstemp(dir=sys.argv[1])
try:
    for i in range(4):
        os.setxattr(path, 'user.swift.metadata%s' % (i or ''), b'x' * 254)
    assert os.getxattr(path, 'user.swift.metadata') == b'x' * 254
finally:
    os.close(fd)
    os.unlink(path)
EOF
}

# Pick the devices dir: DIR/srv if its filesystem takes user xattrs, else a dir in /dev/shm
# (tmpfs takes user xattrs on recent kernels), else (as root) a tmpfs mounted on DIR/srv.
choose_data_dir() {
  [ -z "$data_dir" ] || return 0
  data_dir="$dir/srv"
  mkdir -p "$data_dir"
  if xattr_ok "$data_dir"; then return 0; fi
  say "$data_dir has no user xattrs"
  data_dir="/dev/shm/adtop-swift-$(id -u)-$(printf '%s' "$dir" | cksum | cut -d' ' -f1)"
  if mkdir -p "$data_dir" 2>/dev/null && xattr_ok "$data_dir"; then
    say "storing objects in $data_dir"; return 0
  fi
  rmdir "$data_dir" 2>/dev/null || true
  data_dir="$dir/srv"
  if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=2g adtop-swift "$data_dir" && xattr_ok "$data_dir"; then
    data_mounted=1; say "mounted a tmpfs on $data_dir"; return 0
  fi
  die "found no filesystem with user xattrs for Swift's object data"
}

write_launcher() {
  cat >"$etc/launch.py" <<'EOF'
# Runs one Swift WSGI server in the foreground with its swift.conf taken from SWIFT_DIR.
# Usage: launch.py SWIFT_DIR SERVER CONF PIDFILE   (SERVER: proxy|account|container|object)
import logging
import os
import sys

swift_dir, server, conf, pidfile = sys.argv[1:5]
with open(pidfile, 'w') as f:
    f.write('%d\n' % os.getpid())

from swift.common import utils
# Must happen before swift.common.wsgi (and so swift.common.storage_policy) is imported:
# storage policies are read from utils.SWIFT_CONF_FILE at import time.
utils.set_swift_dir(swift_dir)


class NoSyslog(logging.NullHandler):
    # There is no /dev/log here and Swift would fall back to UDP syslog; log only to stderr
    # (verbose=True below), which swift.sh sends to a file.
    def __init__(self, *args, **kwargs):
        logging.NullHandler.__init__(self)


utils.ThreadSafeSysLogHandler = NoSyslog

from swift.common.wsgi import run_wsgi

kwargs = {'verbose': True}
if server == 'object':
    from swift.obj import server as object_server
    kwargs['global_conf_callback'] = object_server.global_conf_callback
sys.exit(run_wsgi(conf, '%s-server' % server, **kwargs))
EOF
}

# Configs are rewritten on every start (cheap, and picks up a changed proxy port); rings and
# data are kept.
write_configs() {
  local user s
  user="$(id -un)"
  # The hash prefix/suffix decide where objects live on disk, so they must never change for a
  # given DIR: only write swift.conf once.
  [ -f "$etc/swift.conf" ] || cat >"$etc/swift.conf" <<'EOF'
[swift-hash]
swift_hash_path_prefix = adtop-test
swift_hash_path_suffix = adtop-test

[storage-policy:0]
name = Policy-0
default = yes
EOF

  for s in "${servers[@]}"; do
    cat >"$etc/$s-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $(server_port "$s")
# One process: no forked workers to track or leak.
workers = 0
user = $user
swift_dir = $etc
devices = $data_dir
# A plain directory, not a mounted disk.
mount_check = false
# fallocate is not needed for tests and not every filesystem has it.
disable_fallocate = true
log_name = $s-server

[pipeline:main]
pipeline = healthcheck $s-server

[app:$s-server]
use = egg:swift#$s

[filter:healthcheck]
use = egg:swift#healthcheck
EOF
  done

  cat >"$etc/proxy-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $proxy_port
workers = 0
user = $user
swift_dir = $etc
log_name = proxy-server

[pipeline:main]
# listing_formats and tempauth's .r:*/.rlistings handling are what anonymous listing and reads
# of public containers need.
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats tempauth proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
allow_account_management = true
account_autocreate = true

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
user_test2_tester2 = testing2 .admin
user_test_reader = reading

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$memcached_port

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:listing_formats]
use = egg:swift#listing_formats
EOF
}

# Debian's python3-swift has no swift-ring-builder command, and each run of its module costs a
# python start-up (~0.7 s, nine runs); build the missing rings with Swift's RingBuilder in one
# process instead.
build_rings() {
  local s args=()
  mkdir -p "$data_dir/d1"
  for s in "${servers[@]}"; do
    [ -f "$etc/$s.ring.gz" ] || args+=("$s" "$(server_port "$s")")
  done
  [ "${#args[@]}" -gt 0 ] || return 0
  "$py" - "$etc" "${args[@]}" >>"$logd/rings.log" 2>&1 <<'EOF' || die "building rings failed; see $logd/rings.log"
import sys
from swift.common.ring import RingBuilder
etc, rest = sys.argv[1], sys.argv[2:]
for name, port in zip(rest[::2], rest[1::2]):
    # 2^6 partitions, 1 replica, min_part_hours 1: one device (d1) is all there is.
    builder = RingBuilder(6, 1, 1)
    builder.add_dev({'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'port': int(port),
                     'device': 'd1', 'weight': 100})
    builder.rebalance()
    builder.save('%s/%s.builder' % (etc, name))
    builder.get_ring().save('%s/%s.ring.gz' % (etc, name))
    print('built %s ring: 127.0.0.1:%s/d1' % (name, port))
EOF
}

# Servers outlive this script: they must not inherit its open descriptors beyond 0-2 (a caller's
# lock file, a test harness's pipe), or they hold them for as long as they run.
close_inherited_fds() {
  local fd
  for fd in /proc/$$/fd/*; do
    fd="${fd##*/}"
    if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
  done
}

start_memcached() {
  if pid_alive memcached; then return 0; fi
  if port_open "$memcached_port"; then
    die "port $memcached_port (for memcached) is taken by another program; set ADTOP_SWIFT_MEMCACHED_PORT"
  fi
  local as_user=()
  if [ "$(id -u)" = 0 ]; then as_user=(-u root); fi   # memcached refuses root without -u
  # -U 0: no UDP; -d/-P: it daemonizes and writes its own pid file.
  ( close_inherited_fds
    exec memcached -d -l 127.0.0.1 -p "$memcached_port" -U 0 -m 64 "${as_user[@]}" \
      -P "$run/memcached.pid" >>"$logd/memcached.log" 2>&1 )
  wait_for memcached port_open "$memcached_port"
}

start_server() {  # start_server NAME: no-op if it is already running
  local s="$1" port
  if pid_alive "$s"; then return 0; fi
  port="$(server_port "$s")"
  if port_open "$port"; then die "port $port (for $s-server) is taken by another program"; fi
  # setsid: detach from the caller's terminal and process group, so a ^C or the end of the
  # calling test's session does not take the store down.
  ( close_inherited_fds
    exec setsid "$py" "$etc/launch.py" "$etc" "$s" "$etc/$s-server.conf" "$run/$s.pid" \
      </dev/null >>"$logd/$s-server.log" 2>&1 ) &
  say "started $s-server on 127.0.0.1:$port"
}

prepare() {
  mkdir -p "$etc" "$run" "$logd"
  touch "$marker"
  load_state
}

all_alive() {
  local s
  for s in memcached proxy "${servers[@]}"; do pid_alive "$s" || return 1; done
}

do_start() {
  if [ -f "$state" ]; then load_state; else proxy_port="${ADTOP_SWIFT_PORT:-8080}"; fi
  # Fast path: the proxy answers and, if this DIR is ours, every server of it is alive. A
  # proxy answering without a state dir here is some other Swift on that port: use it as is.
  if healthy "$proxy_port" && { [ ! -f "$state" ] || all_alive; }; then
    say "proxy already answers on 127.0.0.1:$proxy_port"
    print_env
    return 0
  fi
  prepare
  install_packages
  choose_data_dir
  write_launcher
  write_configs
  build_rings
  start_memcached
  save_state
  local s
  for s in "${servers[@]}"; do start_server "$s"; done
  start_server proxy
  for s in "${servers[@]}"; do wait_for "$s-server" healthy "$(server_port "$s")"; done
  wait_for proxy auth_ok
  print_env
}

do_start_proxy() {
  [ -f "$state" ] || die "no Swift state in $dir; run: $0 start $dir"
  load_state
  write_configs
  start_memcached
  save_state
  start_server proxy
  wait_for proxy auth_ok
  print_env
}

do_stop() {
  [ -d "$dir" ] || return 0
  [ -f "$marker" ] || die "$dir was not made by swift.sh; not removing it"
  load_state
  local s
  for s in proxy "${servers[@]}"; do kill_pid "$s"; done
  kill_pid memcached
  if [ "$data_mounted" = 1 ]; then umount "$dir/srv" || true; fi
  case "$data_dir" in
    /dev/shm/adtop-swift-*) rm -rf "$data_dir" ;;
  esac
  rm -rf "$dir"
  say "removed $dir"
}

case "$cmd" in
  start) do_start ;;
  stop) do_stop ;;
  start-proxy) do_start_proxy ;;
  stop-proxy)
    [ -f "$state" ] || die "no Swift state in $dir"
    load_state
    kill_pid proxy ;;
  status)
    load_state
    if healthy "$proxy_port"; then say "proxy answers on 127.0.0.1:$proxy_port"; exit 0; fi
    say "proxy does not answer on 127.0.0.1:$proxy_port"; exit 1 ;;
  env) load_state; print_env ;;
  *) echo "usage: $0 start|stop|status|start-proxy|stop-proxy|env [DIR]" >&2; exit 2 ;;
esac
