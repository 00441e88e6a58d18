#!/usr/bin/env bash
# Runs every fuzz target of the module for a short while, one after another.
# Their seed corpora already run with plain `go test`; this explores further.
#
#   tests/fuzz.sh [DURATION]     # per target, default 30s (go test -fuzztime)
#
# FuzzBlkSession, which drives whole vhost-user sessions with ring contents
# against the virtio-blk device, explores a far larger space and runs for
# SESSION_FUZZTIME (default 60s) instead.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${1:-30s}"
sessiontime="${SESSION_FUZZTIME:-60s}"
go="${GO:-go}"

found=0
for pkg in $("$go" list ./...); do
	for target in $("$go" test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		found=$((found + 1))
		t="$fuzztime"
		if [ "$target" = FuzzBlkSession ]; then
			t="$sessiontime"
		fi
		echo "fuzz: $pkg $target for $t"
		"$go" test -run '^$' -fuzz "^${target}\$" -fuzztime "$t" "$pkg"
	done
done
if [ "$found" -eq 0 ]; then
	echo "fuzz: no fuzz targets found" >&2
	exit 1
fi
echo "fuzz: $found targets ran for $fuzztime each, FuzzBlkSession for $sessiontime"
