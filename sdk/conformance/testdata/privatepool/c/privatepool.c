/* Checks that the C SDK reads ABI 1.4's stat key 17 through the host:
 * policy_choose_pool puts an allocation to private memory pool p (1..6)
 * into pool 1 + p and defers for the default memory pool. */
#include "fraglab.h"

FRAGLAB_ABI_V1_4();

fraglab_i64 policy_choose_pool(fraglab_i64 rounded, fraglab_i32 stream,
                               fraglab_i32 tag) {
    fraglab_i64 pool = fraglab_request_private_pool();
    if (pool < 0)
        return fraglab_error("stat 17 answered no memory pool while an allocation is served");
    return pool == 0 ? FRAGLAB_DEFER : 1 + pool % 7;
}
