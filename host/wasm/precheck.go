package wasm

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// precheck walks the module's section headers before wazero decodes it and
// refuses vectors that claim more elements than their section has bytes
// (every element takes at least one). wazero 1.12 allocates a vector's
// declared length up front, so a 1 KiB module declaring 10^9 imports
// would make the host run out of memory instead of getting an error.
func precheck(bin []byte) error {
	const header = 8 // "\0asm" and the version
	if len(bin) < header || string(bin[:4]) != "\x00asm" {
		return errors.New("missing the \\0asm magic number")
	}
	for off := header; off < len(bin); {
		id := bin[off]
		size, n, err := uleb(bin[off+1:])
		if err != nil {
			return fmt.Errorf("section header at byte %d: %v", off, err)
		}
		start := off + 1 + n
		if size > uint64(len(bin)-start) {
			return fmt.Errorf("section %d at byte %d declares %d bytes, only %d follow", id, off, size, len(bin)-start)
		}
		body := bin[start : start+int(size)]
		// Every known section but custom (0), start (8) and data count
		// (12) is a vector.
		if id != 0 && id != 8 && id != 12 && id <= 13 {
			count, _, err := uleb(body)
			if err != nil {
				return fmt.Errorf("section %d at byte %d: element count: %v", id, off, err)
			}
			if count > uint64(len(body)) {
				return fmt.Errorf("section %d at byte %d declares %d elements in %d bytes", id, off, count, len(body))
			}
		}
		off = start + int(size)
	}
	return nil
}

// uleb decodes an unsigned LEB128 of at most 5 bytes (32 bits: the format
// of every count and size in a module's structure). encoding/binary's
// Uvarint is the same encoding, without the wasm length bound.
func uleb(b []byte) (v uint64, n int, err error) {
	v, n = binary.Uvarint(b)
	switch {
	case n == 0:
		return 0, 0, errors.New("truncated LEB128")
	case n < 0 || n > 5:
		return 0, 0, errors.New("LEB128 longer than 5 bytes")
	}
	return v, n, nil
}
