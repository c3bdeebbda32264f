// Package greet is a local replacement of the module example.org/greet the tests serve.
package greet

// Hello greets name from the local copy.
func Hello(name string) string { return "local hello, " + name }

// Counter counts.
type Counter struct{ N int }

// Add adds d and returns the new count.
func (c *Counter) Add(d int) int { c.N += d; return c.N }
