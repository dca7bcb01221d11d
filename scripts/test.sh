#!/usr/bin/env bash
# Run adtop's whole test suite on a fresh Debian machine: installs and starts what the tests
# need (autopkgtest, debhelper, tmux, debci, RabbitMQ with its management plugin, a single-node Swift
# from scripts/swift.sh), then runs formatting, lint, unit, snapshot, integration and end-to-end
# tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '\n== %s\n' "$*"; }

sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi

# A `null`-testbed run of autopkgtest that is killed (the tests kill workers on purpose) leaves
# its apt source for built binaries on this host, pointing at a /tmp directory that is gone;
# every later `apt-get update` then fails. Drop it when its directory no longer exists.
drop_stale_autopkgtest_source() {
  local list=/etc/apt/sources.list.d/autopkgtest.list dir
  [ -f "$list" ] || return 0
  dir=$(sed -n 's|.*file://\([^ ]*\) .*|\1|p' "$list" | head -1)
  if [ -z "$dir" ] || [ ! -d "$dir" ]; then
    echo "removing a stale autopkgtest apt source ($list -> ${dir:-?}) left by a killed run" >&2
    $sudo rm -f "$list" /etc/apt/preferences.d/90autopkgtest
  fi
}
drop_stale_autopkgtest_source

packages=(autopkgtest debhelper tmux rabbitmq-server procps mmdebstrap uidmap apt-utils dpkg-dev python3)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Debian's debci, the other side of tests/debci.rs (its worker, collector and sqlite database);
# without recommends it installs in about 30 s.
debci_packages=(debci debci-worker debci-collector sqlite3)
missing=()
for p in "${debci_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]} (for tests/debci.rs)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! $sudo rabbitmqctl -q status >/dev/null 2>&1; then
  say "starting RabbitMQ"
  $sudo rabbitmq-server -detached
fi
$sudo rabbitmqctl -q await_startup
if ! $sudo rabbitmq-plugins -q list -e rabbitmq_management 2>/dev/null | grep -q rabbitmq_management; then
  say "enabling the management plugin"
  $sudo rabbitmq-plugins -q enable rabbitmq_management >/dev/null
fi
for _ in $(seq 1 60); do
  (exec 3<>/dev/tcp/127.0.0.1/15672) 2>/dev/null && break
  sleep 1
done

# autopkgtest's unshare server maps the testbed's users through a subordinate id range.
user="$(id -un)"
for f in /etc/subuid /etc/subgid; do
  if ! grep -q "^$user:" "$f" 2>/dev/null; then
    say "adding a subordinate id range for $user to $f"
    echo "$user:100000:65536" | $sudo tee -a "$f" >/dev/null
  fi
done

say "starting the test Swift (scripts/swift.sh)"
eval "$(./scripts/swift.sh start)"
# Swift tests fail rather than skip when the Swift this script started is not there.
export ADTOP_REQUIRE_SWIFT=1

say "starting the test RabbitMQ cluster in the background (scripts/cluster.sh)"
# Three nodes on their own ports (5701-5703) for tests/cluster.rs; they boot while lint runs.
cluster_env=$(mktemp)
trap '$sudo scripts/cluster.sh stop >/dev/null 2>&1 || true; rm -f "$cluster_env"; drop_stale_autopkgtest_source' EXIT
$sudo scripts/cluster.sh stop >/dev/null 2>&1 || true
($sudo scripts/cluster.sh start >"$cluster_env" 2>/tmp/adtop-cluster-start.log) &
cluster_pid=$!

say "cargo fmt --check"
cargo fmt --check
say "cargo clippy"
cargo clippy --all-targets --all-features --quiet -- -D warnings
if wait "$cluster_pid"; then
  eval "$(cat "$cluster_env")"
  export ADTOP_REQUIRE_CLUSTER=1
else
  echo "the test cluster did not start:" >&2
  cat /tmp/adtop-cluster-start.log >&2
  exit 1
fi

say "cargo test --no-run"
# Compile every test binary once, before two cargo processes run them side by side.
cargo test --all-features --quiet --no-run

# The testbed tests (tests/testbed.rs) run requests in a throwaway unshare testbed built by
# `adtop testbed build`; the tarball is cached here between runs and rebuilt when a day old.
export ADTOP_TEST_TESTBEDS=/var/cache/adtop-tests/testbeds
$sudo mkdir -p "$ADTOP_TEST_TESTBEDS"
tb_config="$(mktemp)"
printf '[testbed]\ndir = "%s"\n' "$ADTOP_TEST_TESTBEDS" > "$tb_config"
tarball="$ADTOP_TEST_TESTBEDS/bookworm-amd64.tar.gz"
if [ -z "$(find "$tarball" -mmin -1440 2>/dev/null)" ] || [ ! -f "$ADTOP_TEST_TESTBEDS/testbeds.json" ]; then
  say "building the bookworm testbed (cached in $ADTOP_TEST_TESTBEDS)"
  ./target/debug/adtop --config "$tb_config" testbed build bookworm --arch amd64 \
    --mirror http://deb.debian.org/debian
fi
rm -f "$tb_config"

# A test that hangs must fail the run with its name, not outlast CI: each cargo run below has a
# time limit well above its usual time (libtest names what runs over 60 s: "has been running").
limit() {
  local minutes=$1; shift
  local rc=0
  timeout --kill-after=30 "${minutes}m" "$@" || rc=$?
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    echo "adtop tests: \`$*\` did not finish within $minutes minutes (see \"has been running\" above)" >&2
  fi
  return "$rc"
}

say "cargo test (the testbed tests in parallel, log in target/test-testbed.log)"
# They install nothing on this host (no dpkg lock), so they run beside the rest.
limit 30 cargo test --all-features --quiet --test testbed > target/test-testbed.log 2>&1 &
testbed_pid=$!
# Test binaries run one after another; inside a binary, tests that run autopkgtest take turns
# (the dpkg lock). The broker-restart test restarts the broker everyone uses: it runs alone, last.
status=0
limit 40 cargo test --all-features --quiet --no-fail-fast -- --skip in_testbed_ --skip a_broker_restart_ 2>&1 \
  | tee target/test.log || status=$?
testbed_status=0
wait "$testbed_pid" || testbed_status=$?
say "testbed tests"
cat target/test-testbed.log
say "the broker restart test (alone)"
restart_status=0
limit 10 cargo test --all-features --quiet --test broker_restart 2>&1 | tee -a target/test.log || restart_status=$?
if [ "$status" != 0 ] || [ "$testbed_status" != 0 ] || [ "$restart_status" != 0 ]; then
  exit 1
fi
