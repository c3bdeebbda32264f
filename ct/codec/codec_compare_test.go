package codec

// This file compares the codec with encoding/gob and plain github.com/fxamacker/cbor/v2 (default
// options): which values each round-trips exactly (TestCompareRoundTrip -v prints the table) and
// how fast each encodes and decodes (BenchmarkCompare). bench/codec.md records the figures.
//
//	go test -run TestCompareRoundTrip -v ./ct/codec/
//	go test -run '^$' -bench 'Compare|Float64s|ToJSON' -benchmem ./ct/codec/

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
)

type library struct {
	name      string
	marshal   func(v any) ([]byte, error)
	unmarshal func(data []byte, ptr any) error
}

var libraries = []library{
	{"codec", Marshal, Unmarshal},
	{"gob", func(v any) ([]byte, error) {
		var b bytes.Buffer
		err := gob.NewEncoder(&b).Encode(v)
		return b.Bytes(), err
	}, func(data []byte, ptr any) error { return gob.NewDecoder(bytes.NewReader(data)).Decode(ptr) }},
	{"fxamacker", cbor.Marshal, fxamackerLarge.Unmarshal},
}

// fxamackerLarge is fxamacker's default decoding with its largest array limit (the default,
// 131072 elements, refuses the 5,000,000-float case).
var fxamackerLarge, _ = cbor.DecOptions{MaxArrayElements: math.MaxInt32}.DecMode()

func init() {
	gob.Register(Circle{}) // gob's own registration, for the interface case
}

type (
	floatsCase   struct{ F []float64 }
	complexCase  struct{ C complex128 }
	nilSlices    struct{ Nil, Empty []int }
	nilMaps      struct{ Nil, Empty map[string]int }
	timeCase     struct{ T time.Time }
	bigIntCase   struct{ I *big.Int }
	bigFloatCase struct{ F *big.Float }
	arrayKeys    struct{ M map[[2]int]string }
	structKeys   struct{ M map[Key2]bool }
	anyCase      struct{ A []any }
	ifaceCase    struct{ S Shape }
	bytesCase    struct{ B []byte }
	extremes     struct {
		U uint64
		I int64
	}
)

func compareCases() []struct {
	name string
	v    any
} {
	huge, _ := new(big.Int).SetString("-123456789012345678901234567890", 10)
	return []struct {
		name string
		v    any
	}{
		{"NaN, ±Inf, -0 in []float64", floatsCase{[]float64{math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1)}}},
		{"complex128 field", complexCase{1 - 2i}},
		{"nil vs empty slices", nilSlices{nil, []int{}}},
		{"nil vs empty maps", nilMaps{nil, map[string]int{}}},
		{"time (ns, offset)", timeCase{time.Date(2024, 1, 2, 3, 4, 5, 6, time.FixedZone("", 3600))}},
		{"huge negative *big.Int", bigIntCase{huge}},
		{"*big.Float precision 200", bigFloatCase{new(big.Float).SetPrec(200).SetFloat64(0.1)}},
		{"map[[2]int]string", arrayKeys{map[[2]int]string{{1, 2}: "a"}}},
		{"map[struct]bool", structKeys{map[Key2]bool{{1, 2}: true}}},
		{"[]any plain values", anyCase{[]any{1, "s", 2.5, true}}},
		{"registered type in interface", ifaceCase{Circle{2}}},
		{"[]byte", bytesCase{[]byte{0, 1, 2}}},
		{"uint64 max, int64 min", extremes{math.MaxUint64, math.MinInt64}},
	}
}

// TestCompareRoundTrip checks that the codec round-trips every case, and logs which cases gob
// and fxamacker round-trip.
func TestCompareRoundTrip(t *testing.T) {
	var table strings.Builder
	fmt.Fprintf(&table, "\n| case | codec | gob | fxamacker |\n|---|---|---|---|\n")
	for _, c := range compareCases() {
		fmt.Fprintf(&table, "| %s |", c.name)
		for _, lib := range libraries {
			result := "yes"
			data, err := lib.marshal(c.v)
			got := reflect.New(reflect.TypeOf(c.v))
			if err == nil {
				err = lib.unmarshal(data, got.Interface())
			}
			switch {
			case err != nil:
				result = "error: " + strings.ReplaceAll(err.Error(), "|", "/")
			case !sameValue(reflect.ValueOf(c.v), got.Elem()):
				result = fmt.Sprintf("no: %+v", got.Elem().Interface())
			}
			if lib.name == "codec" && result != "yes" {
				t.Errorf("codec does not round-trip %s: %s", c.name, result)
			}
			fmt.Fprintf(&table, " %s |", result)
		}
		table.WriteString("\n")
	}
	t.Log(table.String())
}

// sameValue is reflect.DeepEqual, except that NaN equals NaN, zeros must have the same sign,
// times are compared as instants with their offsets, and big numbers by value (and precision).
func sameValue(a, b reflect.Value) bool {
	if a.Type() != b.Type() {
		return false
	}
	switch a.Type() {
	case timeType:
		ta, tb := a.Interface().(time.Time), b.Interface().(time.Time)
		_, oa := ta.Zone()
		_, ob := tb.Zone()
		return ta.Equal(tb) && oa == ob
	case reflect.TypeFor[*big.Int]():
		return a.IsNil() == b.IsNil() && (a.IsNil() || a.Interface().(*big.Int).Cmp(b.Interface().(*big.Int)) == 0)
	case reflect.TypeFor[*big.Float]():
		fa, fb := a.Interface().(*big.Float), b.Interface().(*big.Float)
		return fa == nil && fb == nil || fa != nil && fb != nil && fa.Cmp(fb) == 0 && fa.Prec() == fb.Prec()
	}
	switch a.Kind() {
	case reflect.Float32, reflect.Float64:
		fa, fb := a.Float(), b.Float()
		return fa == fb && math.Signbit(fa) == math.Signbit(fb) || math.IsNaN(fa) && math.IsNaN(fb)
	case reflect.Complex64, reflect.Complex128:
		return sameValue(reflect.ValueOf(real(a.Complex())), reflect.ValueOf(real(b.Complex()))) &&
			sameValue(reflect.ValueOf(imag(a.Complex())), reflect.ValueOf(imag(b.Complex())))
	case reflect.Slice:
		if a.IsNil() != b.IsNil() {
			return false
		}
		fallthrough
	case reflect.Array:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !sameValue(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Struct:
		for i := range a.NumField() {
			if a.Type().Field(i).IsExported() && !sameValue(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return sameValue(a.Elem(), b.Elem())
	case reflect.Map:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return false
		}
		for iter := a.MapRange(); iter.Next(); {
			bv := b.MapIndex(iter.Key())
			if !bv.IsValid() || !sameValue(iter.Value(), bv) {
				return false
			}
		}
		return true
	}
	return a.Interface() == b.Interface()
}

type record struct {
	ID     string            `json:"id"`
	Count  int               `json:"count"`
	Score  float64           `json:"score"`
	Tags   []string          `json:"tags"`
	Attrs  map[string]string `json:"attrs"`
	When   time.Time         `json:"when"`
	Values []float64         `json:"values"`
}

func benchValues() []struct {
	name string
	v    any
} {
	rec := func(i int) record {
		values := make([]float64, 16)
		for j := range values {
			values[j] = float64(i*j) / 7
		}
		return record{ID: fmt.Sprint("rec-", i), Count: i, Score: float64(i) / 3, Tags: []string{"a", "bb"},
			Attrs: map[string]string{"k": "v", "owner": "x"}, When: time.Unix(int64(i), 5).UTC(), Values: values}
	}
	records := make([]record, 1000)
	for i := range records {
		records[i] = rec(i)
	}
	return []struct {
		name string
		v    any
	}{
		{"float64s-5M", floats(5_000_000)},
		{"float64s-1k", floats(1000)},
		{"record", rec(1)},
		{"records-1k", records},
	}
}

func floats(n int) []float64 {
	f := make([]float64, n)
	for i := range f {
		f[i] = float64(i) * 1.000001
	}
	return f
}

func BenchmarkCompare(b *testing.B) {
	for _, c := range benchValues() {
		for _, lib := range libraries {
			data, err := lib.marshal(c.v)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(c.name+"/"+lib.name+"/Marshal", func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					if _, err := lib.marshal(c.v); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(data)), "encoded-bytes")
			})
			b.Run(c.name+"/"+lib.name+"/Unmarshal", func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					if err := lib.unmarshal(data, reflect.New(reflect.TypeOf(c.v)).Interface()); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
