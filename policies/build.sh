#!/bin/sh
# Rebuilds every built-in policy module from its source, in place.
#
#   policies/build.sh            # from anywhere
#
# Needs clang and wasm-ld (Debian: apt-get install clang lld) for the C
# policies, wat2wasm (apt-get install wabt) for the WAT ones and Debian's
# rustc with the wasm32 standard library (apt-get install rustc
# libstd-rust-dev-wasm32; RUSTC=/path/to/rustc to use another) for the Rust
# one. The committed .wasm files were built with Debian clang 14.0.6, wabt
# 1.0.32 and rustc 1.63.0;
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
	prealloc-arena bfc planner gmlake; do
	(cd "$name" && clang --target=wasm32 -std=c11 -O2 -ffreestanding -nostdlib \
		-Wall -Wextra -Wno-unused-parameter -Wmissing-prototypes -Werror \
		-Wl,--no-entry -Wl,--strip-all -I../../sdk/c \
		-o "$name.wasm" "$name.c" && chmod a-x "$name.wasm")
done
for name in first-fit best-fit-nosplit-large; do
	(cd "$name" && wat2wasm "$name.wat" -o "$name.wasm")
done

# tlsf: Rust, with the Rust SDK (sdk/rust/README.md): the SDK as an rlib in
# a temporary directory, then the policy as a cdylib linked against it. The
# absolute path of the build directory is remapped so the module does not
# depend on where the repository lies.
RUSTC=${RUSTC:-/usr/bin/rustc}
rlibdir=$(mktemp -d)
trap 'rm -rf "$rlibdir"' EXIT
(cd tlsf && remap="--remap-path-prefix=$(pwd)=policies/tlsf" &&
	"$RUSTC" --edition 2021 --crate-type rlib --target wasm32-unknown-unknown \
		-C opt-level=3 -C panic=abort "$remap" --crate-name fraglab \
		../../sdk/rust/fraglab/src/lib.rs -o "$rlibdir/libfraglab.rlib" &&
	"$RUSTC" --edition 2021 --crate-type cdylib --target wasm32-unknown-unknown \
		-C opt-level=3 -C panic=abort "$remap" -C link-arg=-zstack-size=65536 \
		-C strip=symbols --extern fraglab="$rlibdir/libfraglab.rlib" \
		-o tlsf.wasm tlsf.rs && chmod a-x tlsf.wasm)

ls -l pytorch/pytorch.wasm default/default.wasm \
	pytorch-expandable/pytorch-expandable.wasm buddy/buddy.wasm \
	size-class/size-class.wasm lifetime-aware/lifetime-aware.wasm \
	rmm-pool/rmm-pool.wasm prealloc-arena/prealloc-arena.wasm \
	first-fit/first-fit.wasm \
	best-fit-nosplit-large/best-fit-nosplit-large.wasm bfc/bfc.wasm \
	planner/planner.wasm gmlake/gmlake.wasm \
	tlsf/tlsf.wasm
