package codec

import (
	"encoding/json"
	"testing"
)

// The typed-array targets: a 5,000,000-element []float64 (40 MB) should encode and decode at
// about the speed of a memory copy (under 15 ms each on the 2-core benchmark VM).
func BenchmarkFloat64s5M(b *testing.B) {
	f := floats(5_000_000)
	data, err := Marshal(f)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Marshal", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := Marshal(f); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Unmarshal", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var got []float64
			if err := Unmarshal(data, &got); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("MemoryCopy", func(b *testing.B) { // the yardstick: allocate and copy 40 MB
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			_ = append([]float64(nil), f...)
		}
	})
	b.Run("ToJSON", func(b *testing.B) {
		for b.Loop() {
			if _, err := ToJSON(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json.Marshal", func(b *testing.B) { // ToJSON's yardstick
		for b.Loop() {
			if _, err := json.Marshal(f); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkNested(b *testing.B) {
	v := map[string][][]float64{"a": {floats(100_000), floats(100_000)}, "b": {floats(300_000)}}
	data, _ := Marshal(v)
	b.Run("Marshal", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := Marshal(v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Unmarshal", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var got map[string][][]float64
			if err := Unmarshal(data, &got); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Decode", func(b *testing.B) {
		for b.Loop() {
			if _, err := Decode(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Index", func(b *testing.B) {
		list, _ := Key(data, "b")
		array, _ := Index(list, 0)
		for b.Loop() {
			if _, err := Index(array, 1000); err != nil {
				b.Fatal(err)
			}
		}
	})
}
