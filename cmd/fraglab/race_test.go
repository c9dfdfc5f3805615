//go:build race

package main

// raceEnabled: the test binary was built with -race (so is the fraglab
// binary the chaos test builds, to reuse the build cache).
const raceEnabled = true
