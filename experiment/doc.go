// Package experiment parses and expands fraglab experiment files: YAML that
// describes a matrix of workloads × policies (× parameter sweeps) ×
// capacities (× repeats). It does not run anything; a runner takes the
// expanded Runs. The file format is documented in docs/experiments.md.
//
// A full example:
//
//	name: quickstart                 # required, [a-z0-9._-]+
//	description: "PyTorch vs. split limits on the devlog example"
//	device:
//	  kind: sim                      # sim (default), cuda, cuda:N, or auto (cuda if a GPU is present, else sim)
//	  capacity: [256MiB, 1GiB]       # a SIZE, a list of SIZEs, or "unlimited"; default unlimited (cuda: a cap; default its free memory)
//	  latency_profile: h100.json     # sim: estimate driver time from `fraglab calibrate`'s profile (relative to this file)
//	  canary: false                  # true: check on the device that no two live blocks share bytes
//	workloads:
//	  - trace: ../examples/traces/devlog-small-then-large.jsonl  # relative to this file
//	  - name: snap
//	    trace: snapshots/run.pickle
//	    device: 0                    # a .pickle snapshot's device
//	  - generator: random
//	    params: {num_allocations: 1000, max_size: 64MiB}
//	    seeds: [1, 2, 3]             # one workload instance per seed; default [1]
//	policies:
//	  - policy: pytorch              # a built-in...
//	  - policy: pytorch
//	    label: pytorch-split
//	    params:
//	      max_split_size_mb: [128, 256, 512]   # a list is a sweep
//	      expandable_segments: true
//	  - policy: ./my.wasm            # ...or a module, relative to this file
//	metrics: [peak_reserved, frag_ratio, min_capacity]   # default: all
//	repeats: 1
//	limits:
//	  policy_memory: 256MiB          # a multiple of 64KiB
//	  hook_timeout: 1s
//	on_policy_error: abort           # or fallback
//	output: results/quickstart       # relative to this file; default results/<name>
//
// Reading and expanding it:
//
//	e, err := experiment.Load("experiments/quickstart.yaml")
//	if err != nil {
//		// e.g. experiments/quickstart.yaml:14: policies[1].labl: unknown key "labl" (did you mean "label"?)
//		return err
//	}
//	for _, r := range e.Runs() {
//		fmt.Println(r.ID, r.Workload.Name, r.Workload.Seed, r.Policy.Label, r.Policy.Params, r.Capacity, r.Repeat)
//	}
//
// Every problem is reported, not only the first, as an *Error naming the
// file, the line and the key's path; they are joined with errors.Join.
//
// Runs come in a fixed order: workloads, then seeds, then policies, then
// sweep values (the cartesian product of the swept parameters, in key
// order then value order), then capacities, then repeats. Each Run has an
// ID, the first 16 hex digits of a SHA-256 over what determines its
// result: the trace file's bytes (and device) or the generator's name,
// parameters and seed; the policy module's bytes (a .wasm file's, or a
// built-in's as returned by policies.Builtin or the WithBuiltins lookup);
// the policy's parameters; the capacity; the repeat; and the device kind
// unless it is sim (sim IDs are those of files without one). Names, labels,
// paths and the description do not enter it, so renaming or moving files
// keeps IDs, and editing a trace or a parameter changes them. Parse
// rejects an experiment in which two runs would have the same ID.
package experiment
