#!/usr/bin/env bash
# Peer benchmarks (issue 9), run by `make bench-peers` after `make build`:
#  1. installs Debian's etcd-server, etcd-client and victoria-metrics if missing
#     (apt-get update first; the packages' own services are kept from starting);
#  2. runs dist/bench/peers/etcd.js (a 3-member etcd cluster on 127.0.0.1) and
#     dist/bench/peers/victoria-metrics.js (a single VictoriaMetrics on
#     127.0.0.1), each of which starts its daemons and stops them;
#  3. writes bench/results/peers-etcd.json, peers-victoria-metrics.json and
#     peers-summary.md.
# Whatever happens, every process it started is stopped on exit: each bench
# runs in its own process group (with the daemons it spawns), and the trap
# ends those groups by id.
#
# Environment:
#   PEERS_QUICK=1         short runs (1 run, 3 s per etcd figure, no telnet variant)
#   PEERS_RUNS=N          runs per figure (default: 5 for etcd, 7 for VictoriaMetrics)
#   PEERS_INSTALL_ONLY=1  install the packages and stop there
#   PEERS_ONLY=etcd|victoria-metrics   run one of the two
set -euo pipefail
set -m # background jobs get their own process group, so the trap can end each whole group

cd "$(dirname "$0")/../.."

PACKAGES=(etcd-server etcd-client victoria-metrics)
COMMANDS=(etcd etcdctl victoria-metrics)
GROUPS_STARTED=()
POLICY_RC_CREATED=0
# The benches keep their data directories under TMPDIR: one directory for the
# whole run, removed by the trap even if a bench was killed before cleaning up.
RUN_TMP="$(mktemp -d "${TMPDIR:-/tmp}/tsraft-peers-run.XXXXXX")"
export TMPDIR="$RUN_TMP"

cleanup() {
  local status=$?
  for pgid in "${GROUPS_STARTED[@]}"; do
    if kill -0 -- "-$pgid" 2>/dev/null; then
      kill -TERM -- "-$pgid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 0.2; done
      kill -KILL -- "-$pgid" 2>/dev/null || true
    fi
  done
  if [ "$POLICY_RC_CREATED" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
  rm -rf "$RUN_TMP"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

install_packages() {
  local missing=()
  for i in "${!PACKAGES[@]}"; do
    if ! command -v "${COMMANDS[$i]}" >/dev/null 2>&1 || ! dpkg-query -W -f='${Status}' "${PACKAGES[$i]}" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("${PACKAGES[$i]}")
    fi
  done
  if [ "${#missing[@]}" = 0 ]; then
    echo "peers: ${PACKAGES[*]} already installed"
    return
  fi
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo=(sudo); else
      echo "peers: need root (or sudo) to apt-get install ${missing[*]}" >&2
      exit 1
    fi
  fi
  # The packages' postinst would start etcd and victoria-metrics as system
  # services; a temporary policy-rc.d (exit 101 = "not allowed") prevents it,
  # so no daemon is left running that this script did not start and stop.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${sudo[@]}" chmod 755 /usr/sbin/policy-rc.d
    POLICY_RC_CREATED=1
  fi
  echo "peers: installing ${missing[*]}"
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
  if [ "$POLICY_RC_CREATED" = 1 ]; then
    "${sudo[@]}" rm -f /usr/sbin/policy-rc.d
    POLICY_RC_CREATED=0
  fi
}

# Runs a command in its own process group and waits for it.
run_group() {
  "$@" &
  local pid=$!
  GROUPS_STARTED+=("$pid")
  wait "$pid"
}

install_packages
if [ "${PEERS_INSTALL_ONLY:-0}" = 1 ]; then exit 0; fi

for f in dist/bench/peers/etcd.js dist/bench/peers/victoria-metrics.js dist/bench/peers/summary.js; do
  if [ ! -f "$f" ]; then
    echo "peers: $f is missing; run 'make build' first" >&2
    exit 1
  fi
done

ARGS=()
if [ "${PEERS_QUICK:-0}" = 1 ]; then ARGS+=(--quick); fi
if [ -n "${PEERS_RUNS:-}" ]; then ARGS+=(--runs "$PEERS_RUNS"); fi
NODE="${NODE:-node}"

if [ "${PEERS_ONLY:-etcd}" = etcd ]; then
  run_group "$NODE" dist/bench/peers/etcd.js "${ARGS[@]}"
fi
if [ "${PEERS_ONLY:-victoria-metrics}" = victoria-metrics ]; then
  VM_ARGS=("${ARGS[@]}")
  if [ "${PEERS_QUICK:-0}" = 1 ]; then VM_ARGS+=(--no-telnet); fi
  run_group "$NODE" dist/bench/peers/victoria-metrics.js "${VM_ARGS[@]}"
fi
run_group "$NODE" dist/bench/peers/summary.js >/dev/null
echo "peers: wrote bench/results/peers-etcd.json, peers-victoria-metrics.json, peers-summary.md"
