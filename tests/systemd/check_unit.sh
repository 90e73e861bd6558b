#!/usr/bin/env bash
# Checks deploy/systemd/ksight.service with systemd's own tools:
#   systemd-analyze verify            the unit parses, every directive is known
#   systemd-analyze security --offline  the exposure score is 3.0 or less
# Usage: check_unit.sh UNIT KSIGHT_BINARY
# Skips (77) without systemd-analyze, except under KSIGHT_REQUIRE_BPF=1 (CI).
set -euo pipefail
unit=$1
binary=$2
max_score=3.0

if ! command -v systemd-analyze >/dev/null; then
  echo "systemd-analyze not installed (Debian package systemd; scripts/setup installs it)"
  [ "${KSIGHT_REQUIRE_BPF:-}" = 1 ] && exit 1
  exit 77
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# verify checks that ExecStart= exists: point it at the binary under test.
sed "s|/usr/local/sbin/ksight|$binary|" "$unit" >"$work/ksight.service"

# verify prints problems on stderr and still exits 0 for some of them: any
# line that names the unit file is a finding.
if ! systemd-analyze verify --man=no "$work/ksight.service" >"$work/verify.out" 2>&1; then
  cat "$work/verify.out"
  echo "FAIL: systemd-analyze verify"
  exit 1
fi
if grep -q "ksight.service" "$work/verify.out"; then
  cat "$work/verify.out"
  echo "FAIL: systemd-analyze verify reported problems"
  exit 1
fi
echo "ok: systemd-analyze verify"

# The unit must also run as written: Type=notify, a watchdog, no root.
for want in "Type=notify" "WatchdogSec=" "DynamicUser=yes" "SystemCallFilter=@system-service" \
  "CapabilityBoundingSet=" "UMask=0077"; do
  grep -q "^$want" "$unit" || { echo "FAIL: $unit has no $want"; exit 1; }
done

out=$(cd "$work" && systemd-analyze security --offline=yes --no-pager ksight.service 2>&1) || {
  echo "$out"
  echo "FAIL: systemd-analyze security"
  exit 1
}
score=$(echo "$out" | sed -n 's/.*Overall exposure level for ksight.service: \([0-9.]*\).*/\1/p')
if [ -z "$score" ]; then
  echo "$out"
  echo "FAIL: no exposure score in the output"
  exit 1
fi
echo "systemd-analyze security: exposure $score (at most $max_score)"
if ! awk -v s="$score" -v m="$max_score" 'BEGIN { exit !(s <= m) }'; then
  echo "$out" | grep "✗"
  echo "FAIL: exposure $score is above $max_score"
  exit 1
fi
echo "ok: systemd-analyze security"
