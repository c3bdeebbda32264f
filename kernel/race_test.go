//go:build race

package kernel

// testEvaluatorMemory leaves the tests' evaluators without a memory limit under the race detector, whose shadow
// memory would not fit under one (crash_test.go, with the memory blow-up, is left out of -race runs).
const testEvaluatorMemory = -1
