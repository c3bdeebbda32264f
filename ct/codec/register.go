package codec

import (
	"fmt"
	"reflect"
	"sync"
)

var registry struct {
	sync.RWMutex
	byName map[string]reflect.Type
	byType map[reflect.Type]string
}

// Register records the concrete type of v under its name (like gob.Register: "*" for a pointer,
// then the package path and type name), so that its values stored in interfaces, or given to
// Marshal directly, are written with that name and decode back into that type wherever the
// destination is an interface (any, fmt.Stringer, error, ...).
//
// A program must register the same types on the encoding and the decoding side. Register panics
// on a nil v or on a name already taken by another type: both are bugs in the calling program.
func Register(v any) {
	if v == nil {
		panic("codec: Register(nil)")
	}
	RegisterName(typeName(reflect.TypeOf(v)), v)
}

// RegisterName is Register with a chosen name, for a type whose package path differs between
// the programs that exchange its values.
func RegisterName(name string, v any) {
	if v == nil || name == "" {
		panic("codec: RegisterName needs a name and a non-nil value")
	}
	t := reflect.TypeOf(v)
	registry.Lock()
	defer registry.Unlock()
	if registry.byName == nil {
		registry.byName, registry.byType = map[string]reflect.Type{}, map[reflect.Type]string{}
	}
	if other, ok := registry.byName[name]; ok && other != t {
		panic(fmt.Sprintf("codec: name %q registered for both %s and %s", name, other, t))
	}
	if other, ok := registry.byType[t]; ok && other != name {
		panic(fmt.Sprintf("codec: type %s registered as both %q and %q", t, other, name))
	}
	registry.byName[name], registry.byType[t] = t, name
}

func typeName(t reflect.Type) string {
	star := ""
	if t.Name() == "" && t.Kind() == reflect.Pointer {
		star, t = "*", t.Elem()
	}
	if t.Name() == "" || t.PkgPath() == "" {
		return star + t.String()
	}
	return star + t.PkgPath() + "." + t.Name()
}

// Registered reports whether t was registered, so that its values decode back into it from an interface.
func Registered(t reflect.Type) bool {
	_, ok := registeredName(t)
	return ok
}

func registeredName(t reflect.Type) (string, bool) {
	registry.RLock()
	defer registry.RUnlock()
	name, ok := registry.byType[t]
	return name, ok
}

func registeredType(name string) (reflect.Type, bool) {
	registry.RLock()
	defer registry.RUnlock()
	t, ok := registry.byName[name]
	return t, ok
}
