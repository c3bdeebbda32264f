// Package stdlib gives yaegi interpreters the standard library of the Go release govalent is built with.
//
// Exports is what to give Interpreter.Use: the symbol tables written by ./gen with yaegi's extract package for
// the toolchain that ran go generate (files go1_NN_*.go, built with Go 1.NN or later; go.mod requires 1.26, so
// no older tables are needed), over yaegi's own tables for what they leave out on purpose. Generic functions and
// types cannot be taken from the binary (a reflect.Value is never uninstantiated), so cmp, iter, maps and slices
// are interpreted from Go's sources, ported for yaegi v0.16.1 (goroot/README.md): Options points the
// interpreter at them, and it imports them on first use. os/exec and the other symbols that can end or escape
// the process are in package unrestricted, as yaegi splits its own; yaegi's syscall and unsafe tables (go1.22)
// are not regenerated: govalent does not give them to cells.
package stdlib

import "reflect"

//go:generate go run ./gen -sources
//go:generate go run ./gen -tables

// Symbols is the generated tables, "path/name" to symbols, without yaegi's restricted replacements: use Exports.
var Symbols = map[string]map[string]reflect.Value{}

// GenericOnly lists the standard packages a cell cannot import: their API is all generic (no table) and they are
// not among SourcePackages. yaegi's error for them is "unable to find source related to".
var GenericOnly []string
