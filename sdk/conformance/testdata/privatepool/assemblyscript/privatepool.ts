// Checks that the AssemblyScript SDK reads ABI 1.4's stat key 17 through
// the host: policy_choose_pool puts an allocation to private memory pool p
// (1..6) into pool 1 + p and defers for the default memory pool.
import { requestPrivatePool, fail, DEFER } from "../../../../assemblyscript/assembly/fraglab";
export { fraglab_abi_v1_4 } from "../../../../assemblyscript/assembly/fraglab";

export function policy_choose_pool(rounded: i64, stream: i32, tag: i32): i64 {
  const pool = requestPrivatePool();
  if (pool < 0) return fail("stat 17 answered no memory pool while an allocation is served");
  return pool == 0 ? DEFER : 1 + pool % 7;
}
