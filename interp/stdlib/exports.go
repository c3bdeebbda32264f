package stdlib

import (
	"embed"
	"io/fs"
	"reflect"
	"strings"
	"sync"

	yaegi "github.com/traefik/yaegi/interp"
	yaegistdlib "github.com/traefik/yaegi/stdlib"
	"github.com/traefik/yaegi/stdlib/generic"
)

// goroot holds the generic packages' sources, in GOPATH layout (goroot/src/<path>).
//
//go:embed _yaegi/src
var goroot embed.FS

// SourcePackages are the standard packages the interpreter runs from Sources rather than from the binary.
var SourcePackages = []string{"cmp", "iter", "maps", "slices"}

// yaegi compiles its own copies of cmp, maps and slices (go1.22's, trimmed: no slices.Sort, no iterators) into
// every interpreter given the standard library, and the first copy of a package an interpreter sees is the one
// it keeps. Blanking them makes imports of these packages find Sources instead. This changes every yaegi
// interpreter of the process, as it must: the copies are compiled inside yaegi's Interpreter.Use.
func init() {
	for i := range generic.Sources {
		generic.Sources[i] = ""
	}
}

// Options returns opts set to import the generic packages from Sources; its other fields are kept. Source
// imports of anything else fail ("unable to find source related to ..."), as the interpreter has no GOPATH.
func Options(opts yaegi.Options) yaegi.Options {
	opts.GoPath = "_yaegi"
	opts.SourcecodeFilesystem = goroot
	return opts
}

// Sources is the tree Options gives the interpreter: src/<path>/*.go for each of SourcePackages.
func Sources() fs.FS {
	sub, err := fs.Sub(goroot, "_yaegi")
	if err != nil {
		panic(err) // the embedded tree has that directory
	}
	return sub
}

// Exports returns the symbol tables to give the interpreter (Interpreter.Use): the generated ones, over
// yaegi's for what they leave out on purpose (os.Exit, log.Fatal and the other restricted symbols, the
// interface wrappers yaegi composes, its MapTypes), without the packages served from Sources.
var Exports = sync.OnceValue(func() yaegi.Exports {
	out := yaegi.Exports{}
	for key, syms := range yaegistdlib.Symbols {
		out[key] = copySymbols(syms)
	}
	for _, path := range SourcePackages {
		delete(out, path+"/"+path)
	}
	for key, syms := range Symbols {
		merged := out[key]
		if merged == nil {
			merged = map[string]reflect.Value{}
			out[key] = merged
		}
		for name, v := range syms {
			if strings.HasPrefix(name, "_") && len(yaegistdlib.MapTypes[merged[name]]) > 0 {
				continue // yaegi maps its own wrapper to wrappers of composed interfaces (io.Reader + io.WriterTo)
			}
			merged[name] = v
		}
	}
	return out
})

func copySymbols(syms map[string]reflect.Value) map[string]reflect.Value {
	out := make(map[string]reflect.Value, len(syms))
	for name, v := range syms {
		out[name] = v
	}
	return out
}
