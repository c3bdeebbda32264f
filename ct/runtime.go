package ct

import (
	"encoding/json"
	"fmt"
	"os"
)

// The functions in this file are called by code that package interp writes; users do not call them.

var goPanicHandler = func(session string, value any) { fmt.Fprintf(os.Stderr, "panic in goroutine: %v\n", value) }

// SetGoroutinePanicHandler sets what GoPanic does with a recovered value.
func SetGoroutinePanicHandler(h func(session string, value any)) { goPanicHandler = h }

// GoPanic receives what an interpreted goroutine recovered (nil when it did not panic).
func GoPanic(session string, value any) {
	if value != nil {
		goPanicHandler(session, value)
	}
}

// DecodeInto unmarshals a captured variable's JSON into p and returns p; it panics on bad JSON, which cannot
// happen for JSON the SDK wrote.
func DecodeInto(data string, p any) any {
	if err := json.Unmarshal([]byte(data), p); err != nil {
		panic(fmt.Errorf("ct: decoding captured value: %w", err))
	}
	return p
}
