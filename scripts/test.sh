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

packages=(autopkgtest debhelper tmux rabbitmq-server procps)
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

say "starting the test Swift (scripts/swift.sh)"
eval "$(./scripts/swift.sh start)"
# Swift tests fail rather than skip when the Swift this script started is not there.
export ADTOP_REQUIRE_SWIFT=1

say "starting the test RabbitMQ cluster in the background (scripts/cluster.sh)"
# Three nodes on their own ports (5701-5703) for tests/cluster.rs; they boot while lint runs.
cluster_env=$(mktemp)
trap '$sudo scripts/cluster.sh stop >/dev/null 2>&1 || true; rm -f "$cluster_env"' EXIT
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

say "cargo test"
# Test binaries run one after another (the broker-restart test needs the broker to itself);
# inside a binary, tests that run autopkgtest take turns (the dpkg lock).
cargo test --all-features --quiet 2>&1 | tee target/test.log
