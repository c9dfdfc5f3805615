#!/usr/bin/env bash
# gpu-bundle.sh: build fraglab for linux/amd64 with cgo and assemble a folder
# that checks the cuda backend on a GPU machine with no Go and no network:
#
#     bash scripts/gpu-bundle.sh [DIR]        # default DIR: gpu-bundle (git-ignored)
#     # copy DIR to the GPU machine, then:
#     bash DIR/gpu-check.sh                    # outputs in DIR/gpu-check-out or $OUT
#
# The folder holds the binary, gpu-check.sh, compare_driver_logs.py,
# capture_snapshots.py and the PyTorch snapshots of ../shared/traces/pytorch
# (SNAPSHOTS=dir to take them from elsewhere). The binary loads libcuda.so.1
# and NVML at run time; it links against this machine's glibc, so build it on
# a system no newer than the GPU machine's.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/gpu-bundle}
snapshots=${SNAPSHOTS:-$root/../shared/traces/pytorch}

mkdir -p "$dir/snapshots"
echo "building $dir/fraglab (linux/amd64, cgo)"
(cd "$root" && CGO_ENABLED=1 GOOS=linux GOARCH=amd64 CGO_CFLAGS="${CGO_CFLAGS:--O2 -g} -Wno-deprecated-declarations" go build -trimpath -o "$dir/fraglab" ./cmd/fraglab)
cp "$root/scripts/gpu-check.sh" "$root/scripts/compare_driver_logs.py" "$root/scripts/capture_snapshots.py" "$dir/"
n=0
if [ -d "$snapshots" ]; then
	for f in "$snapshots"/*.pickle; do
		[ -e "$f" ] || continue
		cp -f "$f" "$dir/snapshots/"
		n=$((n + 1))
	done
fi
if [ $n -eq 0 ]; then
	echo "warning: no .pickle snapshots in $snapshots: the check will skip the snapshot replays" >&2
fi
cat >"$dir/README.txt" <<TXT
fraglab GPU check bundle, built $(date -u +%Y-%m-%dT%H:%M:%SZ) from $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo "an unknown commit").

On a Linux x86-64 machine with an NVIDIA GPU and its driver (python3 needed,
PyTorch optional):

    bash gpu-check.sh            # outputs in gpu-check-out/, or in \$OUT when set

Exit status 0: every step passed; 1: a step failed; 2: no GPU or no binary.
summary.txt in the output folder lists each step. See docs/gpu.md.
TXT
echo "bundle ready: $dir ($n snapshots). On the GPU machine: bash $(basename "$dir")/gpu-check.sh"
