#!/usr/bin/env bash
# Makes a Docker Compose CLI available for test/integration/compose-file.test.ts (which renders docker-compose.temporal.yml
# with `config`; no Docker daemon is needed). Uses `docker compose` or `docker-compose` when present, otherwise
# installs Debian's `docker-compose` package (as root, or with passwordless sudo). Prints the command on stdout.
set -euo pipefail

log() { printf 'compose-cli: %s\n' "$*" >&2; }

found() {
  if docker compose version >/dev/null 2>&1; then printf 'docker compose\n'; return 0; fi
  if docker-compose version >/dev/null 2>&1; then printf 'docker-compose\n'; return 0; fi
  return 1
}

found && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  log "error: neither 'docker compose' nor 'docker-compose' is installed, and apt-get is not available to install it"
  exit 1
fi
if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif sudo -n true >/dev/null 2>&1; then
  as_root=(sudo -n)
else
  log "error: neither 'docker compose' nor 'docker-compose' is installed; run: sudo apt-get install -y docker-compose"
  exit 1
fi

lock_dir="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)/.tools"
mkdir -p "$lock_dir"
exec 9>"$lock_dir/compose.lock"
command -v flock >/dev/null 2>&1 && flock -w 600 9
found && exit 0

log "installing Debian's docker-compose package"
"${as_root[@]}" apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq docker-compose >/dev/null
found || { log "error: docker-compose was installed but does not run"; exit 1; }
