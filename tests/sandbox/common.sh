# Shared settings for the sandbox scripts. Sourced, never run.
# shellcheck shell=bash

K8S_VERSION="1.20.2"
CACHE_DIR="${KUBECTL_OPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-ops}"
# Not KUBECTL_OPS_SANDBOX: the env file exports that one as a flag (=1) for the tests.
STATE_DIR="${KUBECTL_OPS_SANDBOX_DIR:-$CACHE_DIR/sandbox}"
K8S_BIN_DIR="$CACHE_DIR/k8s-$K8S_VERSION/bin"
SANDBOX_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Print a step header on stderr, and remember when it started.
step() { STEP_T0=$(date +%s); printf '==> %s\n' "$*" >&2; }
# Print how long the current step took.
done_step() { printf '    done in %ss\n' "$(( $(date +%s) - STEP_T0 ))" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Install Debian packages that are not already present (apt-get update once per run).
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ -z "${_APT_UPDATED:-}" ]; then apt-get update -qq >&2; _APT_UPDATED=1; fi
  # Packages such as redis-server, etcd-server and containerd ship init scripts that their
  # postinst would start on the default ports. A policy-rc.d answering 101 ("action not
  # allowed") keeps them stopped: the sandbox runs its own instances on its own ports.
  local policy=/usr/sbin/policy-rc.d own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 0755 "$policy" && own_policy=1
  fi
  local rc=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || rc=$?
  [ "$own_policy" = 1 ] && rm -f "$policy"
  return "$rc"
}
