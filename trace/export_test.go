package trace

// CopyEvents is copyEvents, for the external tests (package trace_test).
var CopyEvents = copyEvents
