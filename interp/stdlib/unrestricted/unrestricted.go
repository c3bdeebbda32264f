// Package unrestricted holds the standard-library symbols that can end or escape the interpreter's process
// (os/exec, os.Exit, log.Fatal), kept apart from package stdlib as yaegi keeps its own.
package unrestricted

import "reflect"

// Symbols is os/exec, written by ../gen for the toolchain that ran go generate.
var Symbols = map[string]map[string]reflect.Value{}
