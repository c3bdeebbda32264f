package codec

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

type (
	Blob    []byte
	Vec     []float64
	Celsius float64
	Inner   struct {
		N  int
		Xs []float64
	}
	Base struct {
		ID   string `json:"id"`
		Note string
	}
	Params struct {
		Base
		*Extra
		Name     string            `json:"name"`
		Count    int               `json:"count,omitempty"`
		Skipped  string            `json:"-"`
		hidden   int               //nolint:unused // must not be encoded
		Ptr      *int              `json:"ptr"`
		PtrPtr   **string          `json:"ptr_ptr"`
		Nil      *Inner            `json:"nil"`
		Arr      [3]int16          `json:"arr"`
		Nested   Inner             `json:"nested"`
		Slices   [][]float64       `json:"slices"`
		ByName   map[string][]int8 `json:"by_name"`
		Empty    []string          `json:"empty"`
		NilSlice []string          `json:"nil_slice"`
		EmptyMap map[string]int    `json:"empty_map"`
		NilMap   map[string]int    `json:"nil_map"`
		C        complex64         `json:"c"`
		Cs       []complex128      `json:"cs"`
		CMap     map[string]complex128
		CPtr     *complex128
		Any      any   `json:"any"`
		Anys     []any `json:"anys"`
		When     time.Time
		Took     time.Duration
		Temps    []Celsius
		Raw      Blob
	}
	Extra struct{ Level int }
	Key2  struct{ A, B int }
)

// Shape types for interface round trips; Circle and *Square are registered, Triangle is not.
type (
	Shape    interface{ Area() float64 }
	Circle   struct{ R float64 }
	Square   struct{ Side float64 }
	Triangle struct{ B, H float64 }
	Holder   struct {
		S   Shape
		A   any
		Err error
	}
)

func (c Circle) Area() float64    { return math.Pi * c.R * c.R }
func (s *Square) Area() float64   { return s.Side * s.Side }
func (t Triangle) Area() float64  { return t.B * t.H / 2 }
func (c Circle) String() string   { return fmt.Sprintf("circle(%g)", c.R) }
func (t Triangle) String() string { return "triangle" }

func init() {
	Register(Circle{})
	Register(&Square{})
}

// roundTrip marshals v and unmarshals it into a new value of v's type.
func roundTrip(t *testing.T, v any) (any, []byte) {
	t.Helper()
	data, err := Marshal(v)
	if err != nil {
		t.Fatalf("Marshal(%#v): %v", v, err)
	}
	if !IsEncoded(data) {
		t.Fatalf("Marshal output lacks the self-describe prefix: % x", data[:min(len(data), 8)])
	}
	got := reflect.New(reflect.TypeOf(v))
	if err := Unmarshal(data, got.Interface()); err != nil {
		t.Fatalf("Unmarshal into %T: %v (data %s)", v, err, hex.EncodeToString(data))
	}
	return got.Elem().Interface(), data
}

func TestRoundTripDeepEqual(t *testing.T) {
	seven, word := 7, "word"
	wordPtr := &word
	cplx := complex(1.5, -2)
	cases := map[string]any{
		"int8 min":    int8(math.MinInt8),
		"int8 max":    int8(math.MaxInt8),
		"int16":       int16(math.MinInt16),
		"int32":       int32(math.MaxInt32),
		"int64 min":   int64(math.MinInt64),
		"int64 max":   int64(math.MaxInt64),
		"int":         -12345,
		"uint8":       uint8(255),
		"uint16":      uint16(math.MaxUint16),
		"uint32":      uint32(math.MaxUint32),
		"uint64 max":  uint64(math.MaxUint64),
		"uintptr":     uintptr(1 << 40),
		"float64":     3.25,
		"+Inf":        math.Inf(1),
		"-Inf":        math.Inf(-1),
		"float32 inf": float32(math.Inf(-1)),
		"float32":     float32(0.1),
		"bool":        true,
		"string":      "héllo \x00 wörld",
		"complex64":   complex64(complex(0.1, -3)),
		"complex128":  complex(math.Pi, math.Inf(1)),
		"bytes":       []byte{0, 1, 2, 255},
		"empty bytes": []byte{},
		"nil bytes":   []byte(nil),
		"named bytes": Blob("blob"),
		"byte array":  [4]byte{1, 2, 3, 4},
		"duration":    90*time.Minute + 5*time.Nanosecond,
		"nil slice":   []int(nil),
		"empty slice": []int{},
		"nil map":     map[string]int(nil),
		"empty map":   map[string]int{},
		"nil strings": []string(nil),
		"strings":     []string{"a", "", "c"},
		"int keys":    map[int]string{3: "three", -1: "minus one"},
		"float keys":  map[float64]int{math.Inf(1): 1, -2.5: 2, 0: 3},
		"array keys":  map[[2]int]string{{1, 2}: "a", {3, 4}: "b"},
		"struct keys": map[Key2]bool{{1, 2}: true, {3, 4}: false},
		"complex map": map[string]complex64{"a": 1i},
		"ptr ptr":     &wordPtr,
		"ptr":         &seven,
		"nil ptr":     (*int)(nil),
		"complex ptr": &cplx,
		"array":       [2][2]string{{"a", "b"}, {"c", "d"}},
		"float64s":    []float64{1, math.Inf(-1), -0.5, math.MaxFloat64, math.SmallestNonzeroFloat64},
		"float32s":    []float32{1, float32(math.Inf(1)), -0.5},
		"int64s":      []int64{math.MinInt64, 0, math.MaxInt64},
		"int32s":      []int32{math.MinInt32, 0, math.MaxInt32},
		"int16s":      []int16{math.MinInt16, 0, math.MaxInt16},
		"int8s":       []int8{math.MinInt8, 0, math.MaxInt8},
		"ints":        []int{math.MinInt, 0, math.MaxInt},
		"uint64s":     []uint64{0, math.MaxUint64},
		"uint32s":     []uint32{0, math.MaxUint32},
		"uint16s":     []uint16{0, math.MaxUint16},
		"uints":       []uint{0, math.MaxUint},
		"complex128s": []complex128{1 + 2i, complex(math.Inf(1), -1)},
		"complex64s":  []complex64{1 + 2i, 3},
		"named vec":   Vec{1, 2, 3},
		"celsius":     []Celsius{-40, 100},
		"durations":   []time.Duration{time.Second, -time.Hour},
		"empty f64s":  []float64{},
		"nil f64s":    []float64(nil),
		"2d floats":   [][]float64{{1, 2}, nil, {}, {3}},
		"map of vecs": map[string][]float64{"a": {1, 2}, "b": nil, "c": {}},
		"map of c128": map[int][]complex128{1: {1i}},
		"anys":        []any{1, "a", 2.5, nil, true, []any{"x", -2}, map[string]any{"k": []any{}}},
		"any map":     map[string]any{"n": 1, "f": 1.5, "s": "x", "l": []any{1}, "m": map[string]any{}},
		"mixed keys":  map[any]any{1: "one", "two": 2, true: false},
		"registered":  Circle{R: 2},
		"holder":      Holder{S: Circle{R: 1}, A: &Square{Side: 2}},
		"holder nils": Holder{},
		"shapes":      []Shape{Circle{1}, &Square{2}, nil},
		"any shapes":  []any{Circle{3}, &Square{4}},
		"text marsh":  []time.Month{time.March},
	}
	for name, v := range cases {
		t.Run(name, func(t *testing.T) {
			got, data := roundTrip(t, v)
			if !reflect.DeepEqual(got, v) {
				t.Errorf("got %#v\nwant %#v\ndata %s", got, v, hex.EncodeToString(data))
			}
		})
	}
}

func TestRoundTripStruct(t *testing.T) {
	n := 42
	s := "deep"
	sp := &s
	when := time.Date(2024, 2, 29, 13, 14, 15, 123456789, time.FixedZone("", 5*3600+30*60))
	p := Params{
		Base:     Base{ID: "id-1", Note: "n"},
		Extra:    &Extra{Level: 3},
		Name:     "p",
		Skipped:  "dropped",
		hidden:   9,
		Ptr:      &n,
		PtrPtr:   &sp,
		Arr:      [3]int16{1, -2, 3},
		Nested:   Inner{N: 1, Xs: []float64{0.5, math.Inf(1)}},
		Slices:   [][]float64{{1}, {}, nil},
		ByName:   map[string][]int8{"a": {1, -1}},
		Empty:    []string{},
		EmptyMap: map[string]int{},
		C:        complex(1, 2),
		Cs:       []complex128{3 - 4i},
		CMap:     map[string]complex128{"x": 5i},
		Any:      map[string]any{"k": []any{1, "v"}},
		Anys:     []any{1.5, "s", nil},
		When:     when,
		Took:     time.Millisecond,
		Temps:    []Celsius{1.5},
		Raw:      Blob{9},
	}
	got, data := roundTrip(t, p)
	want := p
	want.Skipped, want.hidden = "", 0 // not encoded
	g := got.(Params)
	if !g.When.Equal(when) || g.When.Format(time.RFC3339Nano) != when.Format(time.RFC3339Nano) {
		t.Errorf("time: got %v, want %v (same instant and offset)", g.When, when)
	}
	g.When, want.When = time.Time{}, time.Time{}
	if !reflect.DeepEqual(g, want) {
		t.Errorf("got %+v\nwant %+v", g, want)
	}
	// The dispatcher finds fields by their JSON names.
	for _, name := range []string{"id", "Note", "Level", "name", "ptr", "ptr_ptr", "nil", "empty", "nil_slice", "When"} {
		if _, err := Field(data, name); err != nil {
			t.Errorf("Field %q: %v", name, err)
		}
	}
	for _, name := range []string{"count", "Skipped", "hidden", "Base", "Extra", "Name"} {
		if _, err := Field(data, name); err == nil {
			t.Errorf("Field %q found, but it should not be encoded", name)
		}
	}
}

func TestFloatSpecials(t *testing.T) {
	for _, v := range []any{math.NaN(), float32(math.NaN()), []float64{math.NaN()}, []float32{float32(math.NaN())}, map[string]float64{"x": math.NaN()}} {
		got, _ := roundTrip(t, v)
		if !containsNaN(reflect.ValueOf(got)) {
			t.Errorf("%T: NaN lost: %v", v, got)
		}
	}
	for _, v := range []any{math.Copysign(0, -1), float32(math.Copysign(0, -1)), []float64{math.Copysign(0, -1)}, []float32{float32(math.Copysign(0, -1))}, struct{ F float64 }{math.Copysign(0, -1)}} {
		got, _ := roundTrip(t, v)
		if !negativeZero(reflect.ValueOf(got)) {
			t.Errorf("%T: -0 lost its sign: %v", v, got)
		}
	}
	c, _ := roundTrip(t, complex(math.NaN(), math.Copysign(0, -1)))
	if !math.IsNaN(real(c.(complex128))) || !math.Signbit(imag(c.(complex128))) {
		t.Errorf("complex parts: %v", c)
	}
}

func containsNaN(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		return math.IsNaN(v.Float())
	case reflect.Slice:
		return v.Len() == 1 && containsNaN(v.Index(0))
	case reflect.Map:
		return v.Len() == 1 && containsNaN(v.MapIndex(v.MapKeys()[0]))
	}
	return false
}

func negativeZero(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0 && math.Signbit(v.Float())
	case reflect.Slice:
		return v.Len() == 1 && negativeZero(v.Index(0))
	case reflect.Struct:
		return negativeZero(v.Field(0))
	}
	return false
}

func TestTimes(t *testing.T) {
	for _, when := range []time.Time{
		time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.FixedZone("", -7*3600)),
		time.Date(2000, 6, 1, 0, 0, 0, 0, time.FixedZone("", 13*3600+45*60)),
		{},
	} {
		got, _ := roundTrip(t, when)
		g := got.(time.Time)
		_, wantOffset := when.Zone()
		_, gotOffset := g.Zone()
		if !g.Equal(when) || gotOffset != wantOffset || g.Nanosecond() != when.Nanosecond() {
			t.Errorf("got %v, want %v", g, when)
		}
	}
	if _, err := Marshal(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)); err == nil {
		t.Error("year 10000 was encoded, but RFC 3339 cannot hold it")
	}
}

func TestBigNumbers(t *testing.T) {
	huge, _ := new(big.Int).SetString("123456789012345678901234567890123456789", 10)
	for _, x := range []*big.Int{huge, new(big.Int).Neg(huge), big.NewInt(-5), big.NewInt(0), new(big.Int).Lsh(big.NewInt(1), 64), new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), 64))} {
		got, _ := roundTrip(t, x)
		if got.(*big.Int).Cmp(x) != 0 {
			t.Errorf("big.Int: got %v, want %v", got, x)
		}
	}
	f := new(big.Float).SetPrec(300).SetMode(big.ToZero)
	f.SetString("3.14159265358979323846264338327950288419716939937510582097494459")
	for _, x := range []*big.Float{f, new(big.Float).SetInf(true), new(big.Float).SetPrec(7).SetFloat64(-0.0), new(big.Float), big.NewFloat(-1e300)} {
		got, _ := roundTrip(t, x)
		g := got.(*big.Float)
		if g.Cmp(x) != 0 || g.Prec() != x.Prec() || g.Mode() != x.Mode() || g.Signbit() != x.Signbit() {
			t.Errorf("big.Float: got %s prec %d mode %v, want %s prec %d mode %v", g.Text('g', -1), g.Prec(), g.Mode(), x.Text('g', -1), x.Prec(), x.Mode())
		}
	}
	for _, x := range []*big.Float{new(big.Float).SetPrec(MaxBigFloatBits + 1), new(big.Float).SetMantExp(big.NewFloat(1), MaxBigFloatBits+1)} {
		if _, err := Marshal(x); err == nil {
			t.Errorf("a big.Float beyond MaxBigFloatBits was encoded")
		}
	}
	rat := new(big.Rat).SetFrac(new(big.Int).Neg(huge), big.NewInt(7))
	got, _ := roundTrip(t, rat)
	if got.(*big.Rat).Cmp(rat) != 0 {
		t.Errorf("big.Rat: got %v, want %v", got, rat)
	}
	type withBig struct {
		I big.Int
		P *big.Int
		R *big.Rat
	}
	wb := withBig{P: huge, R: big.NewRat(1, 3)}
	wb.I.Set(huge)
	got, _ = roundTrip(t, wb)
	g := got.(withBig)
	if g.I.Cmp(huge) != 0 || g.P.Cmp(huge) != 0 || g.R.Cmp(wb.R) != 0 {
		t.Errorf("big numbers in a struct: got %+v", g)
	}
}

func TestTypedArraysAreTagged(t *testing.T) {
	cases := []struct {
		v   any
		tag uint64
	}{
		{[]float64{1}, 86}, {[]float32{1}, 85}, {[]int64{1}, 79}, {[]int32{1}, 78}, {[]int16{1}, 77},
		{[]int8{1}, 72}, {[]uint64{1}, 71}, {[]uint32{1}, 70}, {[]uint16{1}, 69}, {[]int{1}, 79},
		{[]uint{1}, 71}, {[]complex128{1}, tagComplex}, {[][]float64{{1}}, 0},
	}
	for _, c := range cases {
		data, err := Marshal(c.v)
		if err != nil {
			t.Fatal(err)
		}
		r := &reader{data: data}
		h, _ := r.next()
		if c.tag == 0 { // a list of typed arrays
			h, _ = r.next()
			c.tag = 86
		}
		if h.major != majorTag || h.arg != c.tag {
			t.Errorf("%T encodes as %s, want tag %d", c.v, describe(h), c.tag)
		}
	}
	data, _ := Marshal([]float64{1, -2})
	want := "d9d9f7" + "d856" + "50" + "000000000000f03f" + "00000000000000c0"
	if hex.EncodeToString(data) != want {
		t.Errorf("[]float64{1, -2} = %x, want %s", data, want)
	}
}

// TestPortableTypedArrays runs the element-by-element code of big-endian hosts, which must write
// and read the same bytes as the memory copies.
func TestPortableTypedArrays(t *testing.T) {
	values := []any{
		[]float64{1, -2.5, math.Inf(1)}, []float32{1, -2.5}, []int64{math.MinInt64, 7}, []int32{-1, 2},
		[]int16{-3, 4}, []int8{-5, 6}, []uint64{math.MaxUint64}, []uint32{9}, []uint16{10}, []complex128{1 - 1i}, []complex64{2i},
	}
	fast := make([][]byte, len(values))
	for i, v := range values {
		fast[i], _ = Marshal(v)
	}
	hostLittleEndian = false
	t.Cleanup(func() { hostLittleEndian = true })
	for i, v := range values {
		got, data := roundTrip(t, v)
		if !bytes.Equal(data, fast[i]) {
			t.Errorf("%T: portable encoding %x differs from %x", v, data, fast[i])
		}
		if !reflect.DeepEqual(got, v) {
			t.Errorf("%T: portable decoding gives %v, want %v", v, got, v)
		}
	}
	// Big-endian typed arrays (written by other encoders) are read too.
	hostLittleEndian = true
	be := []byte{0xd8, 82, 0x48, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0} // float64 BE tag, 1.0
	var got []float64
	if err := Unmarshal(be, &got); err != nil || len(got) != 1 || got[0] != 1 {
		t.Errorf("big-endian float64 array: %v, %v", got, err)
	}
}

func TestTypedArrayConversions(t *testing.T) {
	data, _ := Marshal([]int32{1, -2, 3})
	var wide []int64
	if err := Unmarshal(data, &wide); err != nil || !reflect.DeepEqual(wide, []int64{1, -2, 3}) {
		t.Errorf("int32 array into []int64: %v, %v", wide, err)
	}
	var floats []float64
	if err := Unmarshal(data, &floats); err != nil || !reflect.DeepEqual(floats, []float64{1, -2, 3}) {
		t.Errorf("int32 array into []float64: %v, %v", floats, err)
	}
	var arr [3]int
	if err := Unmarshal(data, &arr); err != nil || arr != [3]int{1, -2, 3} {
		t.Errorf("int32 array into [3]int: %v, %v", arr, err)
	}
	var small []uint8
	err := Unmarshal(data, &small)
	if err == nil || !strings.Contains(err.Error(), "-2 does not fit in uint8") || !strings.Contains(err.Error(), "[1]") {
		t.Errorf("int32 array with -2 into []uint8: %v", err)
	}
	list, _ := Marshal([]any{1, 2.5})
	if err := Unmarshal(list, &floats); err != nil || !reflect.DeepEqual(floats, []float64{1, 2.5}) {
		t.Errorf("list into []float64: %v, %v", floats, err)
	}
}

func TestInterfaces(t *testing.T) {
	// A registered type given to Marshal decodes into an interface-typed parameter.
	data, _ := Marshal(Circle{R: 3})
	var s Shape
	if err := Unmarshal(data, &s); err != nil || s != (Circle{R: 3}) {
		t.Errorf("Circle into Shape: %#v, %v", s, err)
	}
	var str fmt.Stringer
	if err := Unmarshal(data, &str); err != nil || str != (Circle{R: 3}) {
		t.Errorf("Circle into fmt.Stringer: %#v, %v", str, err)
	}
	var c Circle // and into its own type
	if err := Unmarshal(data, &c); err != nil || c.R != 3 {
		t.Errorf("Circle into Circle: %#v, %v", c, err)
	}
	// An unregistered type becomes a plain map in an `any`...
	data, _ = Marshal(struct{ A any }{Triangle{B: 1, H: 2}})
	var h struct{ A any }
	if err := Unmarshal(data, &h); err != nil || !reflect.DeepEqual(h.A, map[string]any{"B": 1.0, "H": 2.0}) {
		t.Errorf("unregistered type in any: %#v, %v", h.A, err)
	}
	// ...and an error, not a panic, in a non-empty interface.
	for _, v := range []any{Triangle{1, 2}, Holder{S: Triangle{1, 2}}, Holder{Err: errors.New("boom")}, 5} {
		data, _ := Marshal(v)
		for _, dst := range []any{new(fmt.Stringer), new(Holder), new(error)} {
			err := Unmarshal(data, dst)
			want := reflect.TypeOf(dst).Elem().String()
			if _, isHolder := dst.(*Holder); isHolder {
				want = "codec_test.Shape" // only the interface fields can fail
				if _, ok := v.(Holder); !ok {
					continue
				}
				want = map[bool]string{true: "codec.Shape", false: "error"}[v.(Holder).S != nil]
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%T into %T: %v (want an error naming %s)", v, dst, err, want)
			}
		}
	}
	// A registered type that does not implement the destination interface.
	data, _ = Marshal(&Square{Side: 1})
	if err := Unmarshal(data, new(fmt.Stringer)); err == nil || !strings.Contains(err.Error(), "does not implement") {
		t.Errorf("*Square into fmt.Stringer: %v", err)
	}
}

func TestDecodeGeneric(t *testing.T) {
	when := time.Date(2020, 1, 1, 0, 0, 0, 5, time.UTC)
	huge, _ := new(big.Int).SetString("-99999999999999999999999", 10)
	data, err := Marshal(map[string]any{
		"int": int64(-3), "uint": uint64(math.MaxUint64), "f32": float32(1.5), "bytes": []byte("b"),
		"time": when, "big": huge, "rat": big.NewRat(1, 3), "c": 1i, "f64s": []float64{1}, "i16s": []int16{2},
		"cs": []complex64{1}, "keys": map[int]string{1: "a"}, "list keys": map[[2]int]int{{1, 2}: 3},
		"circle": Circle{1}, "nil": nil,
	})
	if err != nil {
		t.Fatal(err)
	}
	x, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	m := x.(map[string]any)
	checks := map[string]any{
		"int": -3, "uint": uint64(math.MaxUint64), "f32": 1.5, "bytes": []byte("b"), "time": when,
		"c": 1i, "f64s": []float64{1}, "i16s": []int16{2}, "cs": []complex64{1},
		"keys": map[any]any{1: "a"}, "list keys": map[any]any{"[1,2]": 3}, "circle": Circle{1}, "nil": nil,
	}
	for k, want := range checks {
		if got := m[k]; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v (%T), want %#v (%T)", k, got, got, want, want)
		}
	}
	if m["big"].(*big.Int).Cmp(huge) != 0 || m["rat"].(*big.Rat).Cmp(big.NewRat(1, 3)) != 0 {
		t.Errorf("big numbers: %v %v", m["big"], m["rat"])
	}
}

func TestUnmarshalErrors(t *testing.T) {
	enc := func(v any) []byte {
		b, err := Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name string
		data []byte
		dst  any
		want string
	}{
		{"text into int", enc("x"), new(int), "cannot decode a text string into int"},
		{"overflow", enc(300), new(int8), "300 does not fit in int8"},
		{"negative into uint", enc(-1), new(uint), "-1 does not fit in uint"},
		{"fraction into int", enc(2.5), new(int), "2.5 does not fit in int"},
		{"field path", enc(map[string]any{"nested": map[string]any{"Xs": []any{1, "x"}}}), new(Params), `cannot decode the text "x" into float64 (at .nested.Xs[1])`},
		{"map into slice", enc(map[string]int{}), new([]int), "cannot decode a map of 0 keys into []int"},
		{"array length", enc([]int{1, 2}), new([3]int), "cannot decode 2 elements into [3]int"},
		{"not a pointer", enc(1), 5, "non-nil pointer"},
		{"trailing", append(enc(1), 0), new(int), "1 unexpected bytes after the value"},
		{"empty", nil, new(int), "data ends where a value should start"},
		{"bad key", enc(map[string]int{"x": 1}), new(map[int]int), `cannot decode the map key "x" into int`},
	}
	for _, c := range cases {
		err := Unmarshal(c.data, c.dst)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
		}
	}
}

func TestHostileInput(t *testing.T) {
	deep := bytes.Repeat([]byte{0x81}, MaxDepth+10) // lists of one list of ...
	deep = append(deep, 0x01)
	deepTags := append(bytes.Repeat([]byte{0xd8, 0x63}, MaxDepth+10), 0x01) // tag 99 on tag 99 ...
	cases := map[string][]byte{
		"truncated head":      {0x19, 0x01},
		"bytes beyond end":    {0x5a, 0xff, 0xff, 0xff, 0xff, 0x00},
		"text beyond end":     {0x7b, 0, 0, 0, 1, 0, 0, 0, 0, 'a'},
		"huge list":           {0x9b, 0, 0, 1, 0, 0, 0, 0, 0, 1},
		"huge map":            {0xbb, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2},
		"typed array beyond":  {0xd8, 86, 0x5a, 0x10, 0, 0, 0, 1, 2, 3},
		"typed array ragged":  {0xd8, 86, 0x43, 1, 2, 3},
		"typed array of text": {0xd8, 86, 0x61, 'a'},
		"indefinite":          {0x9f, 0x01, 0xff},
		"reserved":            {0x1c},
		"break":               {0xff},
		"deep lists":          deep,
		"deep tags":           deepTags,
		"bad time":            {0xc0, 0x61, 'x'},
		"bignum of list":      {0xc2, 0x80},
		"rational zero":       {0xd8, 30, 0x82, 0x01, 0x00},
		"complex of three":    {0xd9, 0xa7, 0xf8, 0x83, 1, 2, 3},
		"type name not text":  {0xd8, 27, 0x82, 0x01, 0x01},
		"bad big.Float":       append(append([]byte{0xd8, 27, 0x82, 0x6e}, bigFloatName...), 0x41, 0x00),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Decode(data); err == nil {
				t.Errorf("Decode accepted % x", data)
			}
			if _, err := ToJSON(data); err == nil {
				t.Errorf("ToJSON accepted % x", data)
			}
			var p Params
			var anything any
			if Unmarshal(data, &anything) == nil || Unmarshal(data, &p) == nil && name != "rational zero" {
				t.Errorf("Unmarshal accepted % x", data)
			}
		})
	}
	if _, err := Decode(deep); err == nil || !strings.Contains(err.Error(), "deeper than") {
		t.Errorf("deep nesting: %v", err)
	}
}

type node struct {
	Next *node
	Data []int
}

func TestEncodeErrors(t *testing.T) {
	cycle := &node{}
	cycle.Next = cycle
	if _, err := Marshal(cycle); err == nil || !strings.Contains(err.Error(), "deeper than") {
		t.Errorf("pointer cycle: %v", err)
	}
	if _, err := Marshal(struct{ F func() }{}); err == nil || !strings.Contains(err.Error(), "func()") {
		t.Errorf("func field: %v", err)
	}
	if _, err := Marshal(make(chan int)); err == nil {
		t.Error("a channel was encoded")
	}
}

func TestDeterministicMaps(t *testing.T) {
	m := map[string]int{}
	for i := range 100 {
		m[fmt.Sprint("key", i)] = i
	}
	first, _ := Marshal(m)
	for range 20 {
		again, _ := Marshal(m)
		if !bytes.Equal(first, again) {
			t.Fatal("the same map encoded differently")
		}
	}
}

func TestOmitAndEmbedding(t *testing.T) {
	type Deep struct{ X, Y int }
	type Mid struct {
		Deep
		X string // hides Deep.X
	}
	type Top struct {
		Mid
		Tagged   int `json:"Y"` // a tag wins over Deep.Y
		Zero     int `json:",omitzero"`
		Empty    []int
		OmitEmpt []int `json:",omitempty"`
	}
	data, _ := Marshal(Top{Mid: Mid{Deep: Deep{X: 1, Y: 2}, X: "mid"}, Tagged: 3, OmitEmpt: []int{}})
	x, _ := Decode(data)
	want := map[string]any{"X": "mid", "Y": 3, "Empty": nil}
	if !reflect.DeepEqual(x, want) {
		t.Errorf("got %#v, want %#v", x, want)
	}
}

// matrix has only unexported fields, as gonum's mat.Dense: its MarshalBinary and UnmarshalBinary (which, like
// gonum's, refuses a matrix that is not empty) carry it.
type matrix struct {
	rows int
	data []float64
}

func (m matrix) MarshalBinary() ([]byte, error) {
	return append([]byte{byte(m.rows)}, fmt.Sprint(m.data)...), nil
}

func (m *matrix) UnmarshalBinary(b []byte) error {
	if m.rows != 0 {
		return errors.New("not empty")
	}
	m.rows = int(b[0])
	for _, f := range strings.Fields(strings.Trim(string(b[1:]), "[]")) {
		var x float64
		fmt.Sscan(f, &x)
		m.data = append(m.data, x)
	}
	return nil
}

func TestBinaryMarshalers(t *testing.T) {
	m := matrix{rows: 2, data: []float64{1, 2, 3, 4}}
	type holder struct {
		M   *matrix
		Ms  []matrix
		Tag string
	}
	for _, v := range []any{m, &m, holder{M: &m, Ms: []matrix{m, {}}, Tag: "t"}} {
		got, _ := roundTrip(t, v)
		if !reflect.DeepEqual(got, v) {
			t.Errorf("got %#v, want %#v", got, v)
		}
	}
	// through JSON, as the HTTP API gives a value: its bytes as base64
	data, _ := Marshal(m)
	js, err := ToJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	back, err := FromJSON(js)
	if err != nil {
		t.Fatal(err)
	}
	var got matrix
	if err := Unmarshal(back, &got); err != nil || !reflect.DeepEqual(got, m) {
		t.Errorf("through JSON %s: %#v %v", js, got, err)
	}
	// a struct whose fields are all exported stays a map, readable without its type, though it has the methods
	u, _ := url.Parse("https://example.org/a?b=c")
	data, _ = Marshal(u)
	if js, _ := ToJSON(data); !strings.Contains(string(js), `"Host":"example.org"`) {
		t.Errorf("url.URL: %s", js)
	}
}

// DropsData tells a value Marshal does not bring back whole from one it does, by the values its unexported
// and json:"-" fields hold, not by their types alone.
func TestDropsData(t *testing.T) {
	type guarded struct {
		mu    sync.Mutex
		Items map[string]int
	}
	type node struct {
		Next *node
		V    int
	}
	type hidden struct {
		Kept  int
		Cache int `json:"-"`
	}
	locked := &guarded{Items: map[string]int{"a": 1}}
	locked.mu.Lock()
	var full strings.Builder
	full.WriteString("x")
	u, _ := url.Parse("https://example.org/a")
	cycle := &node{V: 1}
	cycle.Next = cycle
	for _, c := range []struct {
		v     any
		drops bool
	}{
		{guarded{Items: map[string]int{"a": 1}}, false}, // an unlocked mutex is its zero value
		{locked, true},
		{u, false}, // its User is nil
		{&strings.Builder{}, false},
		{&full, true},
		{[]float64{1, 2}, false},
		{hidden{Kept: 1}, false},
		{[]hidden{{Kept: 1}, {Cache: 2}}, true},
		{map[string]any{"k": &full}, true},
		{cycle, false},
		{matrix{rows: 1}, false}, // its MarshalBinary carries it
	} {
		if _, drops := DropsData(reflect.ValueOf(c.v)); drops != c.drops {
			t.Errorf("DropsData(%T %+v) = %v, want %v", c.v, c.v, drops, c.drops)
		}
	}
}

// mixed has exported and unexported fields and carries itself with MarshalBinary; fragile's UnmarshalBinary
// panics on bytes it does not expect.
type (
	mixed struct {
		Name string
		n    int
	}
	fragile struct{ x int }
)

func (m mixed) MarshalBinary() ([]byte, error)  { return []byte(m.Name), nil }
func (m *mixed) UnmarshalBinary(b []byte) error { m.Name = string(b); return nil }
func (f fragile) MarshalBinary() ([]byte, error) {
	return []byte{byte(f.x)}, nil
}
func (f *fragile) UnmarshalBinary(b []byte) error { f.x = int(b[1]); return nil }

func TestBinaryMarshalersOnOldAndHostileData(t *testing.T) {
	// written as a map before the codec knew MarshalBinary: still read
	old, _ := Marshal(struct{ Name string }{"kept"})
	var m mixed
	if err := Unmarshal(old, &m); err != nil || m.Name != "kept" {
		t.Errorf("a map into a binary type: %+v %v", m, err)
	}
	data, _ := Marshal(fragile{x: 1})
	var f fragile
	if err := Unmarshal(data, &f); err == nil || !strings.Contains(err.Error(), "UnmarshalBinary panicked") {
		t.Errorf("a panicking UnmarshalBinary: %v", err)
	}
}
