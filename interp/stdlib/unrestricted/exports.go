package unrestricted

import (
	yaegi "github.com/traefik/yaegi/interp"
	yaegiunrestricted "github.com/traefik/yaegi/stdlib/unrestricted"
)

// Exports returns os/exec as generated, with yaegi's unrestricted os.Exit, os.FindProcess and log symbols. Without
// Options.Unrestricted the interpreter's os.Setenv changes only its own copy of the environment, which commands
// started with os/exec do not see.
func Exports() yaegi.Exports {
	out := yaegi.Exports{}
	for key, syms := range yaegiunrestricted.Symbols {
		out[key] = syms
	}
	for key, syms := range Symbols {
		out[key] = syms
	}
	return out
}
