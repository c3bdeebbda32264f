//go:build !unix

package conformance

// limitMemory does nothing where there is no RLIMIT_AS: the per-program time limit still bounds a child.
func limitMemory(uint64) error { return nil }
