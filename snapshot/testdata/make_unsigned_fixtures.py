#!/usr/bin/env python3
"""Writes the unsigned-*.pickle fixtures of snapshot/testdata.

PyTorch writes the fields it keeps in unsigned C++ types (size_t sizes,
addresses and frame lines, cudaStream_t handles, MempoolId_t pool ids) as
Python ints up to 2**64-1, and 2**64-1 itself where the value is unknown (a
frame line CPython could not give). These fixtures hold such values, keys
fraglab does not know in every dict, and one size no replay can use. They are
pickled with Python's own pickle module, as torch.cuda.memory._dump_snapshot
does (protocol 4; protocol 0 as well, where big ints are LONG text).

    python3 snapshot/testdata/make_unsigned_fixtures.py [OUTDIR]

OUTDIR defaults to the folder of this script. The test
TestUnsignedFixtures reads the files and, when python3 is found, checks that
this script still writes files that read the same.
"""

import os
import pickle
import sys

MAX = 2**64 - 1  # what PyTorch writes for an unknown size_t


def snapshot():
    frames = [
        {"filename": "train.py", "line": 18, "name": "step",
         "fx_node_op": "call_function"},  # a key fraglab does not know
        {"filename": "<frozen runpy>", "line": MAX, "name": "_run_code"},
    ]
    base = 0xFFFF_FFFF_FFC0_0000  # 2 MiB below the last 2 MiB of the 64-bit space
    return {
        "segments": [{
            "device": 0,
            "address": base,
            "total_size": 2 * 1024 * 1024,
            "allocated_size": MAX,  # unknown: summed from the blocks
            "active_size": 512,
            "requested_size": 100,
            "stream": MAX,
            "segment_type": "small",
            "segment_pool_id": (MAX, MAX),
            "is_expandable": False,
            "frames": frames,
            "future_segment_key": [1, 2],
            "blocks": [
                {"address": base, "size": 512, "requested_size": 100,
                 "state": "active_allocated", "frames": frames,
                 "future_block_key": MAX},
                {"address": base + 512, "size": 2 * 1024 * 1024 - 512,
                 "requested_size": 0, "state": "inactive", "frames": []},
            ],
        }],
        "device_traces": [[
            {"action": "segment_alloc", "addr": base, "size": 2 * 1024 * 1024,
             "stream": MAX, "time_us": MAX, "frames": frames,
             "pool_id": (MAX, MAX)},  # the segment's pool: the import checks they agree
            {"action": "alloc", "addr": base, "size": 100, "stream": MAX,
             "time_us": 1748730219596671, "frames": frames,
             "compile_context": "N/A", "user_metadata": "",
             "pool_id": [MAX, MAX],  # a list is read like a tuple
             "cpp_frames": [], "future_entry_key": {"x": MAX}},
        ]],
        "allocator_settings": {
            "PYTORCH_CUDA_ALLOC_CONF": "",
            "max_split_size": -1,
            "garbage_collection_threshold": 0.0,
            "expandable_segments": False,
            "pinned_num_register_threads": MAX,
            "release_lock_on_cudamalloc": False,
            "future_setting": MAX,
            "roundup_power2_divisions": {str(1 << k): 0 for k in range(16)},
        },
        "external_annotations": [{"device": 0, "time_us": MAX, "stage": "fwd"}],
        "host_segments": [],
        "host_traces": [],
        "future_top_level_key": MAX,
    }


def bad_size():
    """A needed size of 2**64-1: Read must refuse it, naming the field."""
    s = snapshot()
    s["device_traces"][0][1]["size"] = MAX
    return s


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    files = {
        "unsigned-max.pickle": (snapshot(), 4),
        "unsigned-max-proto0.pickle": (snapshot(), 0),
        "unsigned-bad-size.pickle": (bad_size(), 4),
    }
    for name, (value, protocol) in files.items():
        with open(os.path.join(out, name), "wb") as f:
            pickle.dump(value, f, protocol=protocol)


if __name__ == "__main__":
    main()
