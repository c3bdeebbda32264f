package interp

import (
	"reflect"
	"sync"

	"github.com/govalent/govalent/kernel/display"
	yaegi "github.com/traefik/yaegi/interp"
)

var displaySymbolsOnce sync.Once

// prepareDisplaySymbols runs once the generated symbol tables are filled (after every init): cells may use the
// display helpers but not the hooks through which the kernel receives displays, and yaegi is told how to give
// interpreted values their HTML(), SVG(), PNG(), Markdown() and String() methods when they reach display.
func prepareDisplaySymbols() {
	displaySymbolsOnce.Do(func() {
		key := DisplayPath + "/display"
		for _, hook := range []string{"SetPublisher", "SetClearer", "Publish", "MapTypes"} {
			delete(Symbols[key], hook)
		}
		Symbols["."] = map[string]reflect.Value{"MapTypes": reflect.ValueOf(display.MapTypes(Symbols[key]))}
	})
}

// Exports returns the compiled packages interpreted code may import besides the standard library, ready for
// yaegi's Use.
func Exports() yaegi.Exports {
	prepareDisplaySymbols()
	return Symbols
}
