package codec

import (
	"math"
	"testing"

	"github.com/x448/float16"
)

// Every half-precision value widens as the float16 library widens it, NaN payloads included.
func TestHalfToFloat32(t *testing.T) {
	for i := 0; i <= math.MaxUint16; i++ {
		got, want := halfToFloat32(uint16(i)), float16.Frombits(uint16(i)).Float32()
		if math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("half %#04x: %v (%#08x), want %v (%#08x)", i, got, math.Float32bits(got), want, math.Float32bits(want))
		}
	}
}
