#!/usr/bin/env bash
# Prints the absolute path of a headless-capable Chromium for the browser tests, and nothing else on stdout.
# Order: $CHROMIUM_PATH, `chromium` (Debian) or `chromium-browser` on PATH, then a one-time
# `apt-get install -y chromium` (as root, or with passwordless sudo). Browser downloads by npm packages do not work
# here, so playwright-core drives this installed browser.
set -euo pipefail

log() { printf 'browser: %s\n' "$*" >&2; }

if [ -n "${CHROMIUM_PATH:-}" ] && [ -x "$CHROMIUM_PATH" ]; then printf '%s\n' "$CHROMIUM_PATH"; exit 0; fi
for name in chromium chromium-browser; do
  if path=$(command -v "$name" 2>/dev/null); then printf '%s\n' "$path"; exit 0; fi
done

if [ "$(id -u)" -eq 0 ]; then as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as_root=(sudo -n)
else log "error: chromium is missing and this user cannot install it (run: apt-get install -y chromium, or set CHROMIUM_PATH)"; exit 1
fi
command -v apt-get >/dev/null 2>&1 || { log "error: chromium is missing and apt-get is not available (set CHROMIUM_PATH)"; exit 1; }

log "installing Debian's chromium (once)"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq >&2 || log "apt-get update failed; trying the install with the lists present"
"${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium >&2 </dev/null || { log "error: apt-get install chromium failed"; exit 1; }
path=$(command -v chromium) || { log "error: chromium installed but not on PATH"; exit 1; }
printf '%s\n' "$path"
