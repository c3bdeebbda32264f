package codec

import (
	"encoding/json"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestToJSON(t *testing.T) {
	huge, _ := new(big.Int).SetString("123456789012345678901234567890", 10)
	bf := new(big.Float).SetPrec(200)
	bf.SetString("0.1")
	cases := []struct {
		v    any
		want string
	}{
		{math.NaN(), `"NaN"`},
		{math.Inf(1), `"+Inf"`},
		{[]float64{math.Inf(-1), 1.5, 1e21, 1e-7, 0}, `["-Inf",1.5,1e+21,1e-7,0]`},
		{[]float32{0.1, float32(math.NaN())}, `[0.1,"NaN"]`},
		{float32(0.1), `0.1`},
		{math.Copysign(0, -1), `-0`},
		{complex(1, -2), `{"real":1,"imag":-2}`},
		{complex64(complex(0.1, 0)), `{"real":0.1,"imag":0}`},
		{[]complex128{1i, complex(math.NaN(), 0)}, `[{"real":0,"imag":1},{"real":"NaN","imag":0}]`},
		{[]byte("hi?"), `"aGk/"`},
		{time.Date(2024, 5, 6, 7, 8, 9, 10, time.FixedZone("", -3*3600)), `"2024-05-06T07:08:09.00000001-03:00"`},
		{huge, `"123456789012345678901234567890"`},
		{new(big.Int).Neg(huge), `"-123456789012345678901234567890"`},
		{big.NewInt(1 << 40), `1099511627776`},
		{int64(math.MinInt64), `-9223372036854775808`},
		{uint64(math.MaxUint64), `18446744073709551615`},
		{big.NewRat(1, 4), `0.25`},
		{big.NewRat(1, 3), `"1/3"`},
		{bf, `"0.1"`},
		{new(big.Float).SetFloat64(0.5), `0.5`},
		{map[int]string{3: "x", -1: "y"}, `{"3":"x","-1":"y"}`},
		{map[float64]bool{math.Inf(1): true}, `{"+Inf":true}`},
		{map[[2]int]int{{1, 2}: 3}, `{"[1,2]":3}`},
		{[]int32{1, -2}, `[1,-2]`},
		{[]uint16{}, `[]`},
		{[]int(nil), `null`},
		{"q\"\\\n\x01<\u2028\xff", `"q\"\\\n\u0001<\u2028\ufffd"`},
		{Params{}.Nested, `{"N":0,"Xs":null}`},
		{Circle{2}, `{"R":2}`},
		{map[string]any{"b": []any{true, nil}, "a": 1}, `{"a":1,"b":[true,null]}`},
	}
	for _, c := range cases {
		got, err := ToJSON(mustMarshal(t, c.v))
		if err != nil {
			t.Errorf("ToJSON(%#v): %v", c.v, err)
			continue
		}
		if string(got) != c.want {
			t.Errorf("ToJSON(%#v) = %s, want %s", c.v, got, c.want)
		}
		if !json.Valid(got) {
			t.Errorf("ToJSON(%#v) = %s is not valid JSON", c.v, got)
		}
	}
}

// TestToJSONMatchesEncodingJSON checks that plain values render as encoding/json renders them.
func TestToJSONMatchesEncodingJSON(t *testing.T) {
	type plain struct {
		S  string            `json:"s"`
		F  []float64         `json:"f"`
		G  float64           `json:"g"`
		M  map[string]int    `json:"m"`
		B  []byte            `json:"b"`
		N  *int              `json:"n"`
		L  []map[string]bool `json:"l"`
		U8 []uint8
		E  []string
	}
	v := plain{S: "x<y>&é", F: []float64{1e20, 1e21, 123.456, 1e-6, 1e-7, -0.0001}, G: 100, M: map[string]int{"z": 1, "a": 2},
		B: []byte{1, 2, 3}, L: []map[string]bool{{"t": true}}, U8: []uint8{4}, E: []string{}}
	want, _ := json.Marshal(v)
	got, err := ToJSON(mustMarshal(t, v))
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	json.Unmarshal(want, &a)
	json.Unmarshal(got, &b)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("ToJSON = %s\nencoding/json = %s", got, want)
	}
	if strings.Contains(string(got), `\u003c`) {
		t.Errorf("ToJSON escapes HTML characters, which it need not: %s", got)
	}
}

func TestFromJSON(t *testing.T) {
	data, err := FromJSON([]byte(`{"i": 3, "neg": -4, "f": 2.5, "e": 1e3, "big": 123456789012345678901234567890,
		"s": "x", "l": [1, "a", null, true], "o": {"k": {}}, "u": 18446744073709551615}`))
	if err != nil {
		t.Fatal(err)
	}
	x, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	m := x.(map[string]any)
	huge, _ := new(big.Int).SetString("123456789012345678901234567890", 10)
	want := map[string]any{"i": 3, "neg": -4, "f": 2.5, "e": 1000.0, "big": huge, "s": "x",
		"l": []any{1, "a", nil, true}, "o": map[string]any{"k": map[string]any{}}, "u": uint64(math.MaxUint64)}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("got %#v\nwant %#v", m, want)
	}
	// Values stored as JSON before this codec decode into their Go types.
	var typed struct {
		When  time.Time
		Bytes []byte
		F     float64
		C     complex128
		Keys  map[int]string
		Inf   float64
	}
	old := `{"When": "2024-01-02T03:04:05.5Z", "Bytes": "AQID", "F": 3, "C": {"real": 1, "imag": -1},
		"Keys": {"7": "seven"}, "Inf": "-Inf"}`
	data, err = FromJSON([]byte(old))
	if err != nil {
		t.Fatal(err)
	}
	if err := Unmarshal(data, &typed); err != nil {
		t.Fatal(err)
	}
	if !typed.When.Equal(time.Date(2024, 1, 2, 3, 4, 5, 5e8, time.UTC)) || string(typed.Bytes) != "\x01\x02\x03" ||
		typed.F != 3 || typed.C != 1-1i || typed.Keys[7] != "seven" || !math.IsInf(typed.Inf, -1) {
		t.Errorf("old JSON into Go types: %+v", typed)
	}
	for _, bad := range []string{``, `{`, `[1] [2]`, `{"a":1}x`} {
		if _, err := FromJSON([]byte(bad)); err == nil {
			t.Errorf("FromJSON(%q) succeeded", bad)
		}
	}
	// ToJSON inverts FromJSON.
	for _, s := range []string{`{"a":[1,2.5,"x",null,false],"b":{}}`, `-7`, `"s"`, `[]`} {
		data, _ := FromJSON([]byte(s))
		if back, err := ToJSON(data); err != nil || string(back) != s {
			t.Errorf("ToJSON(FromJSON(%s)) = %s, %v", s, back, err)
		}
	}
}

func TestIsEncoded(t *testing.T) {
	if IsEncoded([]byte(`{"a":1}`)) || IsEncoded([]byte(`null`)) || IsEncoded(nil) {
		t.Error("JSON taken for encoded data")
	}
	data := mustMarshal(t, 1)
	if !IsEncoded(data) {
		t.Error("Marshal output not recognised")
	}
	// Decoding accepts data without the prefix.
	var n int
	if err := Unmarshal(data[len(selfDescribe):], &n); err != nil || n != 1 {
		t.Errorf("without the prefix: %v, %v", n, err)
	}
}

func TestFromJSONRefusesHugeNumbers(t *testing.T) {
	if _, err := FromJSON([]byte(strings.Repeat("9", 9999))); err != nil {
		t.Fatalf("a long number: %v", err)
	}
	if _, err := FromJSON([]byte("[" + strings.Repeat("9", 1<<20) + "]")); err == nil || !strings.Contains(err.Error(), "digits") {
		t.Fatalf("a million digits: %v", err)
	}
}
