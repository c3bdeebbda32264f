// Package govalent holds the source of the packages a native worker binary is built from (see package native):
// the SDK and what it imports from this module. Embedding it lets a govalent binary, however it was built or
// installed, build a shipped program with nothing but a Go toolchain, offline.
package govalent

import "embed"

// Source holds go.mod and the non-test Go files of the packages a shipped program can import from this module,
// at their paths in the module.
//
//go:embed go.mod ct/*.go ct/wire/*.go ct/codec/*.go ct/quantum/*.go kernel/display/*.go internal/credential/*.go
var Source embed.FS

// SourcePackages are the packages in Source, by import path below the module's.
var SourcePackages = []string{"ct", "ct/wire", "ct/codec", "ct/quantum", "kernel/display", "internal/credential"}
