// sizeclass: the example policy every fraglab SDK ships, in AssemblyScript.
//
// It rounds requests up to size classes, a fixed number per power of two,
// and splits blocks less eagerly than PyTorch in the large pools. The C
// (sdk/c/example/sizeclass.c) and WAT (sdk/wat/sizeclass.wat) versions
// answer exactly the same; compare them side by side.
//
// Parameters (read in policy_init):
//   classes_per_doubling  size classes per power of two: 1, 2, 4, 8 or 16
//                         (default 4)
//   split_min_mb          the smallest remainder, in MiB, worth splitting
//                         off a block in pools other than 0 (default 4, ≥ 1)
//
// Hooks: policy_init, policy_round_size and policy_split. Every other
// decision is the host default (sdk/ABI.md §4). As the module exports only
// the hooks it implements it needs no hook mask, and so the ABI 1.0 marker.
// (A policy that exports policy_pick_block also re-exports the scratch
// hook: `export { policy_scratch } from "./fraglab";`.)
//
// Build, from sdk/assemblyscript (npm install first):
//   npx asc assembly/sizeclass.ts -O3 --runtime stub --noAssert --use abort= -o build/sizeclass.wasm

import { paramI64, text, BLOCK_ALIGN, MIB, POOL_SMALL } from "./fraglab";

export { fraglab_abi_v1_0 } from "./fraglab";

let classesPerDoubling: i64 = 4;
let splitMinMB: i64 = 4;

export function policy_init(): i64 {
  const classes = paramI64("classes_per_doubling", 4);
  const splitMin = paramI64("split_min_mb", 4);
  if (classes != 1 && classes != 2 && classes != 4 && classes != 8 && classes != 16) {
    text.clear();
    text.add("classes_per_doubling=");
    text.addI64(classes);
    text.add(": must be 1, 2, 4, 8 or 16");
    return text.fail();
  }
  if (splitMin < 1) {
    text.clear();
    text.add("split_min_mb=");
    text.addI64(splitMin);
    text.add(": must be ≥ 1");
    return text.fail();
  }
  classesPerDoubling = classes;
  splitMinMB = splitMin;
  return 0;
}

// Sizes up to 512 take one block of 512; a power of two is its own class;
// any other size rounds up to the next of classes_per_doubling equal steps
// between the powers of two around it (steps of at least 512).
export function policy_round_size(size: i64, stream: i32, tag: i32): i64 {
  if (size <= BLOCK_ALIGN) return BLOCK_ALIGN;
  const u = <u64>size;
  if ((u & (u - 1)) == 0) return size;
  const floorPow2: u64 = (<u64>1) << (63 - clz(u)); // 2^floor(log2 size)
  let step = floorPow2 / <u64>classesPerDoubling;
  if (step < <u64>BLOCK_ALIGN) step = <u64>BLOCK_ALIGN;
  // step is a power of two: round up with a mask.
  return <i64>((u + step - 1) & ~(step - 1));
}

// Answers the front piece: `rounded` splits the rest off as a free block,
// `block_size` keeps the block whole. Pool 0 splits any remainder of at
// least 512 bytes; other pools only one of at least split_min_mb MiB
// (compared as floor(remainder / MiB) ≥ split_min_mb, which is the same
// and cannot overflow).
export function policy_split(blockSize: i64, rounded: i64, pool: i32, stream: i32, flags: i32, tag: i32): i64 {
  const rest = blockSize - rounded;
  if (pool == POOL_SMALL) return rest >= BLOCK_ALIGN ? rounded : blockSize;
  return rest >> 20 >= splitMinMB ? rounded : blockSize;
}
