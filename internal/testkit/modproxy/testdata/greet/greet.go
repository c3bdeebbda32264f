// Package greet is a module the tests serve from a file-system proxy.
package greet

import "strings"

// Hello greets name.
func Hello(name string) string { return "hello, " + strings.ToUpper(name) }

// Counter counts.
type Counter struct{ N int }

// Add adds d and returns the new count.
func (c *Counter) Add(d int) int { c.N += d; return c.N }

// Keep and KeepID do nothing here: tests give cells compiled versions of them that hand a cell's values over.
func Keep(v any)       {}
func KeepID(id string) {}
