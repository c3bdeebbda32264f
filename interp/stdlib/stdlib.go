// Package stdlib gives yaegi interpreters the standard library of the Go release govalent is built with.
//
// Symbols holds the symbol tables of the compiled packages, written by ./gen with yaegi's extract package for
// the toolchain that ran go generate (files go1_NN_*.go, built with Go 1.NN or later). Generic functions and
// types cannot be taken from the binary (a reflect.Value is never uninstantiated), so the generic packages
// cmp, iter, maps and slices are interpreted from Go's own sources, ported where yaegi v0.16.1 cannot run them
// (see goroot/README.md): Sources serves them to the interpreter, which imports them on first use.
package stdlib

//go:generate go run ./gen -sources
//go:generate go run ./gen -tables

import "reflect"

// Symbols is the generated tables, package path/name to symbols.
var Symbols = map[string]map[string]reflect.Value{}
