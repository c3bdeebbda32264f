package dispatcher_test

import (
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/govalent/govalent/ct"
)

// inner and outer mirror the cell's types: values decode by field name.
type inner struct {
	Z  complex64
	At *time.Time
}

type outer struct {
	Name  string `json:"name"`
	In    *inner `json:"in"`
	Ptr   **int  `json:"ptr"`
	Tags  map[[2]int]string
	Empty []string
	None  []string
	Blob  []byte
}

// Every kind of value JSON cannot carry crosses from an electron to the next one and to the client, in both
// tiers: each node echoes what the node before it made.
func TestEveryValueCrossesProcesses(t *testing.T) {
	e := newEnv(t)
	e.cell(`
import (
	"math"
	"math/big"
	"time"
)

type Inner struct {
	Z  complex64
	At *time.Time
}

type Outer struct {
	Name  string ` + "`json:\"name\"`" + `
	In    *Inner ` + "`json:\"in\"`" + `
	Ptr   **int ` + "`json:\"ptr\"`" + `
	Tags  map[[2]int]string
	Empty []string
	None  []string
	Blob  []byte
}

func Floats() []float64 { return []float64{math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1), 1.5} }
func EchoFloats(x []float64) []float64 { return x }
func Complex() (complex128, []complex64) { return complex(1, -2), []complex64{complex(3, 4)} }
func EchoComplex(c complex128) complex128 { return c }
func EchoComplexes(cs []complex64) []complex64 { return cs }
func Bigs() (*big.Int, *big.Float, *big.Rat) {
	i, _ := new(big.Int).SetString("-123456789012345678901234567890", 10)
	f, _ := new(big.Float).SetPrec(200).SetString("3.14159265358979323846264338327950288419716939937510")
	return i, f, big.NewRat(-7, 3)
}
func EchoInt(i *big.Int) *big.Int { return i }
func EchoFloat(f *big.Float) *big.Float { return f }
func EchoRat(r *big.Rat) *big.Rat { return r }
func Maps() (map[int]string, map[float64]int, map[string]int, map[string]int) {
	return map[int]string{3: "three", -1: "minus one"}, map[float64]int{0.5: 1}, map[string]int{}, nil
}
func EchoIntKeys(m map[int]string) map[int]string { return m }
func EchoFloatKeys(m map[float64]int) map[float64]int { return m }
func EchoEmpty(m map[string]int) map[string]int { return m }
func EchoNil(m map[string]int) map[string]int { return m }
func Nested() Outer {
	at := time.Date(2026, 11, 30, 12, 0, 0, 123456789, time.FixedZone("", 5*3600+30*60))
	n := 7
	p := &n
	return Outer{Name: "x", In: &Inner{Z: complex(1, 1), At: &at}, Ptr: &p, Tags: map[[2]int]string{{1, 2}: "a"}, Empty: []string{}, Blob: []byte{0, 1, 255}}
}
func EchoNested(o Outer) Outer { return o }
func Plain(v any) any { return v }

var values = ct.Lattice(func() []ct.Future {
	c, b, m := ct.Electron(Complex)(), ct.Electron(Bigs)(), ct.Electron(Maps)()
	return []ct.Future{
		ct.Electron(EchoFloats)(ct.Electron(Floats)()),
		ct.Electron(EchoComplex)(c.Index(0)), ct.Electron(EchoComplexes)(c.Index(1)),
		ct.Electron(EchoInt)(b.Index(0)), ct.Electron(EchoFloat)(b.Index(1)), ct.Electron(EchoRat)(b.Index(2)),
		ct.Electron(EchoIntKeys)(m.Index(0)), ct.Electron(EchoFloatKeys)(m.Index(1)),
		ct.Electron(EchoEmpty)(m.Index(2)), ct.Electron(EchoNil)(m.Index(3)),
		ct.Electron(EchoNested)(ct.Electron(Nested)()),
		ct.Electron(Plain)(map[string]any{"n": 1, "xs": []float64{math.NaN()}}),
	}
})
res, err := ct.DispatchSync(values)
`)
	r := e.result("res")
	if r.Status != ct.StatusCompleted {
		t.Fatalf("%s: %s", r.Status, r.Error)
	}
	node := func(name string, v any) {
		t.Helper()
		n := r.NodeByName(name)
		if n == nil || n.Status != ct.StatusCompleted {
			t.Fatalf("node %s: %+v", name, n)
		}
		if err := n.Decode(v); err != nil {
			t.Fatalf("node %s: %v", name, err)
		}
	}

	var fs []float64
	node("EchoFloats", &fs)
	if len(fs) != 5 || !math.IsNaN(fs[0]) || !math.IsInf(fs[1], 1) || !math.IsInf(fs[2], -1) || fs[3] != 0 || !math.Signbit(fs[3]) || fs[4] != 1.5 {
		t.Errorf("floats %v", fs)
	}
	if js := string(r.NodeByName("EchoFloats").RawOutput); js != `["NaN","+Inf","-Inf",-0,1.5]` {
		t.Errorf("floats as JSON: %s", js)
	}

	var c complex128
	node("EchoComplex", &c)
	var cs []complex64
	node("EchoComplexes", &cs)
	if c != complex(1, -2) || len(cs) != 1 || cs[0] != complex(3, 4) {
		t.Errorf("complex %v %v", c, cs)
	}

	wantInt, _ := new(big.Int).SetString("-123456789012345678901234567890", 10)
	wantFloat, _ := new(big.Float).SetPrec(200).SetString("3.14159265358979323846264338327950288419716939937510")
	var i *big.Int
	var f *big.Float
	var rat *big.Rat
	node("EchoInt", &i)
	node("EchoFloat", &f)
	node("EchoRat", &rat)
	if i.Cmp(wantInt) != 0 || f.Cmp(wantFloat) != 0 || f.Prec() != 200 || rat.Cmp(big.NewRat(-7, 3)) != 0 {
		t.Errorf("big numbers %v %v (precision %d) %v", i, f, f.Prec(), rat)
	}

	var intKeys map[int]string
	var floatKeys map[float64]int
	empty, none := map[string]int(nil), map[string]int{"stale": 1}
	node("EchoIntKeys", &intKeys)
	node("EchoFloatKeys", &floatKeys)
	node("EchoEmpty", &empty)
	node("EchoNil", &none)
	if !reflect.DeepEqual(intKeys, map[int]string{3: "three", -1: "minus one"}) || floatKeys[0.5] != 1 || empty == nil || len(empty) != 0 || none != nil {
		t.Errorf("maps %v %v %#v %#v", intKeys, floatKeys, empty, none)
	}

	var o outer
	node("EchoNested", &o)
	at := time.Date(2026, 11, 30, 12, 0, 0, 123456789, time.FixedZone("", 5*3600+30*60))
	if o.Name != "x" || o.In == nil || o.In.Z != complex(1, 1) || o.In.At == nil || !o.In.At.Equal(at) || o.Ptr == nil || **o.Ptr != 7 ||
		o.Tags[[2]int{1, 2}] != "a" || o.Empty == nil || len(o.Empty) != 0 || o.None != nil || !reflect.DeepEqual(o.Blob, []byte{0, 1, 255}) {
		t.Errorf("nested %+v", o)
	}
	if _, off := o.In.At.Zone(); off != 5*3600+30*60 {
		t.Errorf("zone offset %d", off)
	}
	if js := string(r.NodeByName("Plain").RawOutput); !strings.Contains(js, `"xs":["NaN"]`) {
		t.Errorf("plain %s", js)
	}
}

// A client's encoded constants and inputs are checked when the dispatch is made: what is not a well-formed
// encoding is a 400, before any worker or selection node meets it.
func TestMalformedEncodedValuesAreRefused(t *testing.T) {
	e := newEnv(t)
	for _, body := range []string{
		`{"graph":{"name":"g","nodes":[{"node_id":0,"name":"l","kind":"list","args":[{"encoded":"AQID"}]}],"output":{"node":0}}}`,
		`{"graph":{"name":"g","nodes":[{"node_id":0,"name":"l","kind":"list","args":[{"encoded":"2dn3gw=="}]}],"output":{"node":0}}}`,
		`{"graph":{"name":"g","nodes":[],"output":{"value":1}},"inputs_encoded":"2dn3/w=="}`,
	} {
		if code, resp := request(t, "POST", e.url+"/api/v1/dispatches", body); code != 400 || !strings.Contains(fmt.Sprint(resp), "encoded") {
			t.Errorf("%s: %d %v", body, code, resp)
		}
	}
}

// The graph the API shows has its constants as JSON, as the web UI reads them (or encoded, when asked).
func TestGraphConstantsShowAsJSON(t *testing.T) {
	e := newEnv(t)
	e.cell(`import "math"
func Scale(x, by float64) float64 { return x * by }
id, err := ct.Dispatch(ct.Lattice(func() ct.Future { return ct.Electron(Scale)(math.Inf(1), 2) }))`)
	id := e.value("id").(string)
	code, body := request(t, "GET", e.url+"/api/v1/dispatches/"+id+"/graph", "")
	args := fmt.Sprint(body)
	if code != 200 || !strings.Contains(args, "value:+Inf") || !strings.Contains(args, "value:2") || strings.Contains(args, "encoded") {
		t.Fatalf("graph: %d %v", code, body)
	}
	if code, body := request(t, "GET", e.url+"/api/v1/dispatches/"+id+"/graph?values=encoded", ""); code != 200 || !strings.Contains(fmt.Sprint(body), "encoded:") {
		t.Fatalf("graph, encoded: %d %v", code, body)
	}
}
