package codec

import (
	"encoding/json"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"
)

func fuzzSeeds(f *testing.F) {
	n := 1
	for _, v := range []any{
		Params{Name: "p", Ptr: &n, Nested: Inner{Xs: []float64{1}}, Cs: []complex128{1i}, Any: []any{1, "x"}},
		map[Key2]bool{{1, 2}: true}, map[int]string{1: "a"}, []float32{1, 2}, []int8{-1}, []complex64{1},
		Holder{S: Circle{1}, A: &Square{2}}, big.NewInt(-1), new(big.Int).Lsh(big.NewInt(1), 100),
		big.NewRat(2, 3), new(big.Float).SetPrec(100).SetFloat64(1.5), time.Unix(1, 2), math.NaN(),
		[]any{nil, true, "s", []byte("b")}, map[string]any{"a": map[string]any{"b": []any{}}},
	} {
		data, err := Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte{0xd8, 86, 0x5a, 0x10, 0, 0, 0, 1, 2, 3})
	f.Add([]byte{0x9b, 0, 0, 1, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{0xc1, 0xfb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0})
}

// FuzzDecode checks that untyped decoding, JSON rendering and navigation never panic, and that
// whatever ToJSON accepts renders as valid JSON, and the items of what decodes decode.
func FuzzDecode(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, decodeErr := Decode(data)
		if j, err := ToJSON(data); err == nil && !json.Valid(j) {
			t.Fatalf("ToJSON(% x) = %q is not valid JSON", data, j)
		}
		for _, i := range []int{0, 1} {
			if item, err := Index(data, i); err == nil && decodeErr == nil {
				if _, err := Decode(item); err != nil {
					t.Fatalf("Index(% x, %d) = % x, which does not decode: %v", data, i, item, err)
				}
			}
		}
		_, _ = Key(data, "a")
		_, _ = Field(data, "name")
	})
}

// FuzzUnmarshal checks that typed decoding never panics and that what decodes re-encodes.
func FuzzUnmarshal(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, dst := range []any{new(Params), new(Holder), new([]float64), new(map[Key2]bool), new(any), new(*big.Float), new([2]complex64)} {
			if Unmarshal(data, dst) == nil {
				if _, err := Marshal(dst); err != nil && !isTimeRange(err) {
					t.Fatalf("decoded % x into %T, which does not re-encode: %v", data, dst, err)
				}
			}
		}
	})
}

// isTimeRange tells the one encoding error decodable data may cause: an epoch time (tag 1)
// beyond the years RFC 3339 can write.
func isTimeRange(err error) bool {
	return strings.Contains(err.Error(), "RFC 3339 holds years")
}
