// Package trace reads and writes fraglab workloads: streams of allocation
// events (alloc, free, empty_cache) replayed through an allocator policy.
//
// The native format is JSON Lines, one event per line, optionally gzipped;
// docs/trace-format.md describes it precisely. Readers stream: their memory
// grows with the number of live allocations, never with the trace length.
// Open picks a reader by file extension; other packages may add formats with
// Register.
package trace
