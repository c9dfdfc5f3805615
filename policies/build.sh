#!/bin/sh
# Rebuilds every built-in policy module from its source, in place.
#
#   policies/build.sh            # from anywhere
#
# Needs clang and wasm-ld (Debian: apt-get install clang lld) for the C
# policies and wat2wasm (apt-get install wabt) for the WAT ones. The
# committed .wasm files were built with Debian clang 14.0.6 and wabt 1.0.32;
# the builds are deterministic, and policies_test.go checks that rebuilding
# gives the committed bytes. Keep the commands here, in policies_test.go and
# in each policy's README.md the same.
set -eu
cd "$(dirname "$0")"

# pytorch: C, no libc.
(cd pytorch && clang --target=wasm32 -std=c11 -O2 -ffreestanding -nostdlib \
	-Wall -Wextra -Wno-unused-parameter -Wmissing-prototypes -Werror \
	-Wl,--no-entry -Wl,--strip-all -I../../sdk/c \
	-o pytorch.wasm pytorch.c && chmod a-x pytorch.wasm)

# default: WAT, no hooks.
(cd default && wat2wasm default.wat -o default.wasm)

# The library: C policies (no libc) and WAT policies, each built in its
# directory from <name>.c or <name>.wat into <name>.wasm.
for name in pytorch-expandable buddy size-class lifetime-aware rmm-pool \
	prealloc-arena; do
	(cd "$name" && clang --target=wasm32 -std=c11 -O2 -ffreestanding -nostdlib \
		-Wall -Wextra -Wno-unused-parameter -Wmissing-prototypes -Werror \
		-Wl,--no-entry -Wl,--strip-all -I../../sdk/c \
		-o "$name.wasm" "$name.c" && chmod a-x "$name.wasm")
done
for name in first-fit best-fit-nosplit-large; do
	(cd "$name" && wat2wasm "$name.wat" -o "$name.wasm")
done

ls -l pytorch/pytorch.wasm default/default.wasm \
	pytorch-expandable/pytorch-expandable.wasm buddy/buddy.wasm \
	size-class/size-class.wasm lifetime-aware/lifetime-aware.wasm \
	rmm-pool/rmm-pool.wasm prealloc-arena/prealloc-arena.wasm \
	first-fit/first-fit.wasm \
	best-fit-nosplit-large/best-fit-nosplit-large.wasm
