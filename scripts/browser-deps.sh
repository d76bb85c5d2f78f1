#!/usr/bin/env bash
# Install (if missing) the headless browser the console's browser tests drive: Debian's `chromium`
# and `chromium-driver` (/usr/bin/chromium, /usr/bin/chromedriver). Selenium itself lives in the
# test venv (scripts/tools-venv.sh); this script only brings the browser and its driver, from the
# distribution's packages, so that nothing is downloaded at test time.
#
# Idempotent: when both binaries exist and their major versions match, it prints one line and
# installs nothing. Installing needs root (apt-get); without root and with something missing it
# fails with the command to run.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
CHROMEDRIVER=/usr/bin/chromedriver

# major_version BINARY: the first number of the first dotted version the binary prints
# ("Chromium 131.0.6778.139 built on Debian ..." -> 131).
major_version() {
  "$1" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9.]+' | head -n 1 | cut -d. -f1
}

installed_majors() {
  [[ -x "$CHROMIUM" && -x "$CHROMEDRIVER" ]] || return 1
  local browser driver
  browser="$(major_version "$CHROMIUM")"
  driver="$(major_version "$CHROMEDRIVER")"
  [[ -n "$browser" && "$browser" == "$driver" ]] || return 1
  echo "$browser"
}

if major="$(installed_majors)"; then
  echo "browser-deps: chromium and chromedriver $major present, nothing installed"
  exit 0
fi

if [[ "$(id -u)" != 0 ]]; then
  echo "browser-deps: $CHROMIUM and $CHROMEDRIVER (same major version) are needed and installing them needs root:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium chromium-driver" >&2
  exit 1
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# apt-get's output is shown only if it fails.
if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "browser-deps: apt-get install chromium chromium-driver failed" >&2
  exit 1
fi

if ! major="$(installed_majors)"; then
  echo "browser-deps: installed, but $CHROMIUM ($(major_version "$CHROMIUM")) and $CHROMEDRIVER ($(major_version "$CHROMEDRIVER")) disagree on the major version" >&2
  exit 1
fi
echo "browser-deps: installed chromium and chromedriver $major"
