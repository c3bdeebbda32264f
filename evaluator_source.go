package govalent

import "embed"

// EvaluatorSource holds go.mod, go.sum and the Go files of the packages the kernel's evaluator is built from
// (package kernel and what it imports from this module), at their paths in the module: a kernel builds an
// evaluator that links in the compiled packages of a session's Go modules from it, with a Go toolchain only.
//
//go:embed go.mod go.sum *.go ct/*.go ct/wire/*.go ct/codec/*.go ct/quantum/*.go internal/credential/*.go
//go:embed kernel/*.go kernel/display/*.go kernel/complete/*.go native/*.go
//go:embed interp/*.go interp/stdlib/*.go interp/stdlib/unrestricted/*.go interp/stdlib/_yaegi/src
var EvaluatorSource embed.FS
