package codec

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decoded(t *testing.T, data []byte) any {
	t.Helper()
	if !IsEncoded(data) {
		t.Errorf("result lacks the self-describe prefix: % x", data)
	}
	x, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestIndex(t *testing.T) {
	cases := []struct {
		v    any
		i    int
		want any
	}{
		{[]string{"a", "b", "c"}, 2, "c"},
		{[]any{1, []any{2, 3}}, 1, []any{2, 3}},
		{[]float64{0.5, -1}, 1, -1.0},
		{[]float32{0.5, 2}, 0, 0.5},
		{[]int32{7, -8}, 1, -8},
		{[]uint64{math.MaxUint64}, 0, uint64(math.MaxUint64)},
		{[]int8{-1}, 0, -1},
		{[]complex128{1, 2 - 3i}, 1, 2 - 3i},
		{[]complex64{4i}, 0, 4i},
		{[]byte{9, 8}, 1, 8},
		{Circle{1}, 0, nil}, // a map: error below
	}
	for _, c := range cases[:len(cases)-1] {
		got, err := Index(mustMarshal(t, c.v), c.i)
		if err != nil {
			t.Errorf("Index(%v, %d): %v", c.v, c.i, err)
			continue
		}
		if x := decoded(t, got); !reflect.DeepEqual(x, c.want) {
			t.Errorf("Index(%v, %d) = %#v, want %#v", c.v, c.i, x, c.want)
		}
	}
	// An element of a typed array decodes into the slice's element type.
	got, _ := Index(mustMarshal(t, []float32{0.1}), 0)
	var f float32
	if err := Unmarshal(got, &f); err != nil || f != 0.1 {
		t.Errorf("float32 element: %v, %v", f, err)
	}
	errs := map[string]struct {
		v any
		i int
	}{
		"index 5 out of range of a list of 3":        {[]string{"a", "b", "c"}, 5},
		"index -1 out of range of a list of 3":       {[]any{1, 2, 3}, -1},
		"index 2 out of range of a typed array of 2": {[]float64{1, 2}, 2},
		"cannot index a map of 1 keys":               {map[string]int{"a": 1}, 0},
		"cannot index a text string":                 {"abc", 0},
	}
	for want, c := range errs {
		if _, err := Index(mustMarshal(t, c.v), c.i); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Index(%v, %d): %v, want %q", c.v, c.i, err, want)
		}
	}
}

func TestKeyAndField(t *testing.T) {
	m := mustMarshal(t, map[string]any{"a": 1, "b": []float64{2}})
	got, err := Key(m, "b")
	if err != nil || !reflect.DeepEqual(decoded(t, got), []float64{2}) {
		t.Errorf("Key b: %v", err)
	}
	_, err = Key(m, "x")
	if err == nil || err.Error() != `codec: no key "x" in a map of 2 keys (keys: "a", "b")` {
		t.Errorf("missing key: %v", err)
	}
	ints := mustMarshal(t, map[int]string{3: "three", -1: "m"})
	if got, err := Key(ints, "3"); err != nil || decoded(t, got) != "three" {
		t.Errorf(`Key "3" of map[int]string: %v`, err)
	}
	pairs := mustMarshal(t, map[[2]int]string{{1, 2}: "x"})
	if got, err := Key(pairs, "[1,2]"); err != nil || decoded(t, got) != "x" {
		t.Errorf(`Key "[1,2]" of map[[2]int]string: %v`, err)
	}
	p := mustMarshal(t, Params{Name: "n", Nested: Inner{N: 4}})
	nested, err := Field(p, "nested")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := Field(nested, "N"); err != nil || decoded(t, n) != 4 {
		t.Errorf("Field nested.N: %v", err)
	}
	if _, err := Field(p, "Name"); err == nil || !strings.Contains(err.Error(), `no field "Name"`) || !strings.Contains(err.Error(), `"name"`) {
		t.Errorf("Field Name (the JSON name is name): %v", err)
	}
	if _, err := Field(ints, "3"); err == nil {
		t.Error("Field matched a non-text key")
	}
	// A registered type's name is seen through.
	if r, err := Field(mustMarshal(t, Circle{R: 2}), "R"); err != nil || decoded(t, r) != 2.0 {
		t.Errorf("Field of a registered type: %v", err)
	}
	if _, err := Key(mustMarshal(t, []string{"x"}), "a"); err == nil || !strings.Contains(err.Error(), `cannot look up the key "a" in a list of 1`) {
		t.Errorf("Key of a list: %v", err)
	}
}

func TestListAndDict(t *testing.T) {
	items := [][]byte{mustMarshal(t, 1), mustMarshal(t, []float64{2}), mustMarshal(t, "three")}
	list := List(items)
	var got []any
	if err := Unmarshal(list, &got); err != nil || !reflect.DeepEqual(got, []any{1, []float64{2}, "three"}) {
		t.Errorf("List: %#v, %v", got, err)
	}
	var typed struct {
		A int
		B []float64
	}
	dict, err := Dict([]string{"A", "B"}, items[:2])
	if err != nil {
		t.Fatal(err)
	}
	if err := Unmarshal(dict, &typed); err != nil || typed.A != 1 || typed.B[0] != 2 {
		t.Errorf("Dict into a struct: %+v, %v", typed, err)
	}
	if b, _ := Field(dict, "B"); !reflect.DeepEqual(decoded(t, b), []float64{2}) {
		t.Error("Field of a Dict")
	}
	if _, err := Dict([]string{"a"}, nil); err == nil {
		t.Error("Dict with fewer items than keys")
	}
	if _, err := Dict([]string{"a", "a"}, items[:2]); err == nil {
		t.Error("Dict with a duplicate key")
	}
	if x := decoded(t, List(nil)); !reflect.DeepEqual(x, []any{}) {
		t.Errorf("empty List: %#v", x)
	}
}

func TestCheck(t *testing.T) {
	good, err := Marshal(map[string][]float64{"a": {1, 2}, "b": nil})
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(good); err != nil {
		t.Fatalf("a value Marshal wrote: %v", err)
	}
	for _, bad := range [][]byte{good[:len(good)-1], append(append([]byte{}, good...), 0), {0xd9, 0xd9, 0xf7}, {0x83, 0x01}} {
		if Check(bad) == nil {
			t.Errorf("% x passed", bad)
		}
	}
}
