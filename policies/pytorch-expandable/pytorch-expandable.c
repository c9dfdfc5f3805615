/*
 * pytorch-expandable: PyTorch's caching allocator with
 * PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True, as a preset.
 *
 * Every decision but two is the host default (sdk/ABI.md §4), which is
 * PyTorch at default settings. This module changes only what the knob
 * changes:
 *   - policy_segment_mode: every (pool, stream) grows one expandable
 *     segment, mapped in pages of 2 MiB in the small pool (pool 0) and of
 *     20 MiB in every other pool (PyTorch's kSmallBuffer and
 *     kLargeBuffer);
 *   - policy_split: while expandable_segments is on PyTorch splits off any
 *     remainder of at least 512 bytes, in every pool.
 * It answers exactly as the `pytorch` built-in with
 * --param expandable_segments=true (policies/library_test.go checks it).
 * No parameters. The pages must be multiples of the device granularity
 * (2 MiB on sim), or the host refuses the answer.
 *
 * Build (from policies/pytorch-expandable): see ../build.sh.
 */
#include "fraglab.h"

FRAGLAB_ABI_V1();

fraglab_i64 policy_segment_mode(fraglab_i32 pool, fraglab_i32 stream) {
    return pool == FRAGLAB_POOL_SMALL ? 2 * FRAGLAB_MIB : 20 * FRAGLAB_MIB;
}

fraglab_i64 policy_split(fraglab_i64 block_size, fraglab_i64 rounded,
                         fraglab_i32 pool, fraglab_i32 stream,
                         fraglab_i32 flags, fraglab_i32 tag) {
    return block_size - rounded >= FRAGLAB_BLOCK_ALIGN ? rounded : block_size;
}
