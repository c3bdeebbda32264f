// Package words is a module whose package name is not its path's last element (as go-humanize's is humanize).
package words

import "strings"

// Shout is s in capitals, with an exclamation mark.
func Shout(s string) string { return strings.ToUpper(s) + "!" }
