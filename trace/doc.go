// Package trace reads and writes fraglab workloads: streams of allocation
// events (alloc, free, empty_cache; allocations to private pools, frees that
// wait for other streams with free_requested, release_pool) replayed through
// an allocator policy.
//
// The native format is JSON Lines, one event per line; a compact binary
// format (.fltr: varint- and delta-encoded records, a tag table, an end
// record) holds the same events in about a tenth of the bytes; RMM's
// logging_resource_adaptor CSV logs (.csv) are read (allocation ids given
// per allocate, pointers, threads, times and allocate failures kept beside
// the events) and written (private pools and pending frees refused). Each may be gzipped. docs/trace-format.md
// describes them precisely. Readers stream: their memory grows with the
// number of live allocations, never with the trace length. Open picks a
// reader by file extension; other packages may add formats with Register.
package trace
