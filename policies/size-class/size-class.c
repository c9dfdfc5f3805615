/*
 * size-class: size-class rounding in the style of RAPIDS RMM's arena
 * memory resource (rmm::mr::arena_memory_resource; see README.md), as a
 * built-in. It is exactly the C SDK's example policy, so the rules live in
 * one place: sdk/c/example/sizeclass.c.
 */
#include "../../sdk/c/example/sizeclass.c"
