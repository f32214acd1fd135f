#!/usr/bin/env bash
# soak.sh: smp's engine for 10 minutes at a steady rate through a local sidecar arm
# (builtin sidecar, strict mTLS, one builtin service), sampling the resident memory, the Go
# memory (live heap after GC plus stacks) and the goroutines of the generator and of both
# sidecars every 10 s. No process's Go memory or goroutines may grow by more than 5% after
# the first minute (exit 1 otherwise); RSS growth is printed beside them (bench/README.md
# says why it is not the verdict).
#
# Usage: bench/soak.sh [-d DURATION] [-r RATE] [-c CONNS] [-o OUTDIR]
#   Writes OUTDIR/samples.csv and OUTDIR/soak.svg (default OUTDIR: bench/soak).
set -euo pipefail

DUR=10m
RATE=1000
CONNS=16
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/bench/soak
while getopts "d:r:c:o:" opt; do
	case $opt in
	d) DUR=$OPTARG ;;
	r) RATE=$OPTARG ;;
	c) CONNS=$OPTARG ;;
	o) OUT=$OPTARG ;;
	*) echo "usage: $0 [-d duration] [-r rate] [-c connections] [-o outdir]" >&2; exit 2 ;;
	esac
done
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/smp-soak.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
(cd "$ROOT" && go build -o "$WORK/smp" ./cmd/smp && go build -o "$WORK/soak" ./bench/cmd/soak)
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$WORK/soak" -smp "$WORK/smp" -out "$OUT" -d "$DUR" -rate "$RATE" -c "$CONNS"
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
