#!/usr/bin/env bash
# gpu-check.sh: check fraglab's cuda backend on a machine with an NVIDIA GPU.
#
# Needs only bash, python3 and the prebuilt binary: no Go, no network. Run it
# from the bundle scripts/gpu-bundle.sh assembles:
#
#     bash gpu-bundle/gpu-check.sh
#
# Steps (each PASS, FAIL or SKIP in summary.txt):
#   1. fraglab devices: a CUDA GPU must be listed (else: stop, exit 2)
#   2. every snapshot in snapshots/: replayed on sim and on cuda:0 with the
#      same capacity cap; driver logs identical apart from addresses
#      (compare_driver_logs.py); the cuda run in canary mode
#   3. fraglab calibrate: a latency profile of this GPU; one snapshot replayed
#      on sim with it, its driver_seconds_est next to the cuda run's measured
#      driver_seconds
#   4. capture_snapshots.py (PyTorch; SKIP without torch), each capture
#      checked with fraglab fidelity
#   5. a replay exported with --snapshot-out, opened by PyTorch's own viewer
#      (torch.cuda._memory_viz stats and trace_plot; SKIP without torch)
#
# Outputs go to $OUT when set, else gpu-check-out/ next to this script.
# Environment: FRAGLAB (the binary; default ./fraglab next to this script),
# SNAPSHOTS (default ./snapshots), GPU (default cuda:0), CAPACITY (bytes;
# default 90% of the GPU's free memory), CALIBRATE_ARGS (extra calibrate
# flags, e.g. "--max 256MiB --repetitions 50").
# Exit status: 0 all passed, 1 a step failed, 2 no GPU or no binary.
set -u

here=$(cd "$(dirname "$0")" && pwd)
fraglab=${FRAGLAB:-$here/fraglab}
snapshots=${SNAPSHOTS:-$here/snapshots}
gpu=${GPU:-cuda:0}
out=${OUT:-$here/gpu-check-out}
mkdir -p "$out"
summary=$out/summary.txt
: >"$summary"
failed=0

say() { echo "$*" | tee -a "$summary"; }
result() { # result PASS|FAIL|SKIP WHAT [DETAIL]
	say "$(printf '%-4s  %s%s' "$1" "$2" "${3:+  ($3)}")"
	if [ "$1" = FAIL ]; then failed=1; fi
}

if [ ! -x "$fraglab" ]; then
	say "FAIL  no fraglab binary at $fraglab: build the bundle with scripts/gpu-bundle.sh, or set FRAGLAB"
	exit 2
fi
say "gpu-check: $fraglab on $(uname -n), outputs in $out"

# 1. devices
"$fraglab" devices >"$out/devices.txt" 2>&1
"$fraglab" devices --json >"$out/devices.json" 2>>"$out/devices.txt"
cat "$out/devices.txt"
nocuda=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("no_cuda",""))' "$out/devices.json")
if [ -n "$nocuda" ]; then
	result FAIL "fraglab devices lists no GPU" "$nocuda"
	say "gpu-check needs a machine with an NVIDIA GPU and its driver: stopping here."
	exit 2
fi
result PASS "fraglab devices lists a GPU"

if [ -z "${CAPACITY:-}" ]; then
	CAPACITY=$(python3 - "$out/devices.json" "$gpu" <<'EOF'
import json, sys
l = json.load(open(sys.argv[1]))
want = sys.argv[2] if ":" in sys.argv[2] else sys.argv[2] + ":0"
for d in l["devices"]:
    if d["device"] == want:
        g = d.get("granularity") or 2 << 20
        print(int(d.get("free_memory", 0) * 0.9) // g * g)
        break
else:
    print(0)
EOF
)
fi
if [ "${CAPACITY:-0}" -le 0 ]; then
	result FAIL "free memory of $gpu unknown" "see devices.json"
	exit 1
fi
say "capacity cap for sim and $gpu: $CAPACITY bytes"

# 2. snapshots on sim and cuda
first=""
shopt -s nullglob
snaps=("$snapshots"/*.pickle)
if [ ${#snaps[@]} -eq 0 ]; then
	result SKIP "snapshot replays" "no .pickle in $snapshots"
fi
for snap in "${snaps[@]}"; do
	name=$(basename "$snap" .pickle)
	d=$out/replay/$name
	mkdir -p "$d"
	[ -z "$first" ] && first=$snap
	if ! "$fraglab" replay --trace "$snap" --device sim --capacity "$CAPACITY" \
		--driver-log "$d/sim.driver.jsonl" --device-info "$d/sim.device.json" >"$d/sim.txt" 2>&1; then
		result FAIL "$name: replay on sim" "$(tail -n 1 "$d/sim.txt")"
		continue
	fi
	if ! "$fraglab" replay --trace "$snap" --device "$gpu" --capacity "$CAPACITY" --canary \
		--driver-log "$d/cuda.driver.jsonl" --device-info "$d/cuda.device.json" >"$d/cuda.txt" 2>&1; then
		result FAIL "$name: replay on $gpu with --canary" "$(tail -n 1 "$d/cuda.txt")"
		continue
	fi
	if cmp=$(python3 "$here/compare_driver_logs.py" "$d/sim.driver.jsonl" "$d/cuda.driver.jsonl" 2>&1); then
		result PASS "$name: sim and $gpu driver logs" "$cmp; canary clean"
	else
		echo "$cmp" >"$d/compare.txt"
		result FAIL "$name: sim and $gpu driver logs" "$(head -n 1 <<<"$cmp")"
	fi
done

# 3. calibrate, then an estimate next to a measurement
# shellcheck disable=SC2086 # CALIBRATE_ARGS is a list of flags
if "$fraglab" calibrate --device "$gpu" ${CALIBRATE_ARGS:-} -o "$out/latency-profile.json" >"$out/calibrate.txt" 2>&1; then
	result PASS "fraglab calibrate" "$out/latency-profile.json"
	cat "$out/calibrate.txt"
	if [ -n "$first" ]; then
		name=$(basename "$first" .pickle)
		d=$out/replay/$name
		if "$fraglab" replay --trace "$first" --device sim --capacity "$CAPACITY" \
			--latency-profile "$out/latency-profile.json" --device-info "$d/sim-estimated.device.json" >"$d/sim-estimated.txt" 2>&1 &&
			[ -f "$d/cuda.device.json" ]; then
			cmpline=$(python3 - "$d/sim-estimated.device.json" "$d/cuda.device.json" <<'EOF'
import json, sys
est = json.load(open(sys.argv[1])).get("driver_seconds_est")
meas = json.load(open(sys.argv[2])).get("driver_seconds")
print("estimated %s s on sim, measured %s s on the GPU" % (est, meas))
EOF
)
			result PASS "$name: driver time" "$cmpline"
		else
			result FAIL "$name: replay on sim with the measured latency profile" "see $d/sim-estimated.txt"
		fi
	fi
else
	result FAIL "fraglab calibrate" "$(tail -n 1 "$out/calibrate.txt")"
fi

# 4. fresh PyTorch snapshots, checked by fidelity
python3 "$here/capture_snapshots.py" "$out/captured" >"$out/capture.txt" 2>&1
rc=$?
if [ $rc -eq 2 ]; then
	result SKIP "capture_snapshots.py" "$(tail -n 1 "$out/capture.txt")"
elif [ $rc -ne 0 ]; then
	result FAIL "capture_snapshots.py" "$(tail -n 1 "$out/capture.txt")"
else
	for snap in "$out"/captured/*.pickle; do
		name=$(basename "$snap" .pickle)
		if "$fraglab" fidelity "$snap" >"$out/captured/$name.fidelity.txt" 2>&1; then
			result PASS "captured $name: fidelity" "exact match"
		else
			result FAIL "captured $name: fidelity" "$(grep -m 1 -E 'DIVERGES|first divergence|fraglab:' "$out/captured/$name.fidelity.txt")"
		fi
	done
fi

# 5. fraglab's exported snapshot in PyTorch's memory viewer
first=$(ls "$snapshots"/*.pickle 2>/dev/null | head -n 1)
if ! python3 -c 'import torch.cuda._memory_viz' >/dev/null 2>&1; then
	result SKIP "memory_viz opens --snapshot-out" "no torch"
elif [ -z "$first" ]; then
	result SKIP "memory_viz opens --snapshot-out" "no snapshot in $snapshots"
elif ! "$fraglab" replay --trace "$first" --snapshot-out "$out/exported.pickle" >"$out/export.txt" 2>&1; then
	result FAIL "replay --snapshot-out" "$(tail -n 1 "$out/export.txt")"
elif python3 -m torch.cuda._memory_viz stats "$out/exported.pickle" >"$out/exported.stats.txt" 2>&1 &&
	python3 -m torch.cuda._memory_viz trace_plot "$out/exported.pickle" -o "$out/exported.html" >>"$out/exported.stats.txt" 2>&1; then
	result PASS "memory_viz opens --snapshot-out" "stats and trace_plot of $(basename "$first")"
else
	result FAIL "memory_viz opens --snapshot-out" "$(tail -n 1 "$out/exported.stats.txt")"
fi

if [ $failed -ne 0 ]; then
	say "gpu-check: FAILED (details in $out)"
	exit 1
fi
say "gpu-check: all passed"
