#!/usr/bin/env bash
# Render an HTML report with headless Chromium and save a PNG of what a reader sees.
# Usage: scripts/screenshot_report.sh REPORT.html [OUT.png] [WIDTHxHEIGHT]
# Needs Debian's chromium (apt-get install -y chromium); runs fully offline.
set -euo pipefail

if [[ $# -lt 1 || ! -f "$1" ]]; then
  echo "usage: $0 REPORT.html [OUT.png] [WIDTHxHEIGHT]  (REPORT.html must exist)" >&2
  exit 2
fi
report=$(realpath "$1")
out=$(realpath -m "${2:-${1%.html}.png}")
size=${3:-1400x2000}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [[ -z "$browser" ]]; then
  echo "$0: no chromium found; install it with: apt-get install -y chromium" >&2
  exit 2
fi

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# No network, no first-run or background services: the report is a self-contained file.
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --hide-scrollbars --window-size="${size/x/,}" \
  --screenshot="$out" "file://$report" 2>/dev/null
echo "$out"
