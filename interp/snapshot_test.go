package interp

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/govalent/govalent/ct/codec"
)

// A snapshot restored into a new session gives it the declarations and the variables' values, without running
// the cells' statements again; what cannot be carried is listed.
func TestRestoreCarriesDeclarationsAndVariables(t *testing.T) {
	s, out, _ := newSession(t)
	eval(t, s, `import (
	"fmt"
	"time"
)

type Point struct{ X, Y int }

func (p Point) Sum() int { return p.X + p.Y }

func twice(n int) int { return 2 * n }

var total = 1`)
	eval(t, s, `x := 21
p := Point{3, 4}
fmt.Println("side effect")
names := map[string][]float64{"a": {1.5}}
d := 3 * time.Second
fn := func() int { return 1 }`)
	eval(t, s, `func usesX() int { return twice(x) }
var started = time.Now()
x++
total += 5`)
	snap := s.Snapshot()
	values := map[string][]byte{}
	for _, v := range append(snap.Vars, snap.Declared...) {
		val, ok := s.Value(v.Name)
		if !ok {
			t.Fatalf("no value for %s", v.Name)
		}
		if data, err := codec.Marshal(val.Interface()); err == nil {
			values[v.Name] = data
		}
	}
	if _, ok := values["fn"]; ok {
		t.Fatal("a func value was encoded")
	}

	r, rout, _ := newSession(t)
	lost, err := r.Restore(context.Background(), snap, values)
	if err != nil {
		t.Fatal(err)
	}
	if len(lost) != 0 {
		t.Errorf("lost %v", lost)
	}
	if strings.Count(out.String(), "side effect") != 1 || rout.Len() != 0 {
		t.Errorf("statements ran again: %q", rout)
	}
	for src, want := range map[string]any{
		"x": 22, "usesX()": 44, "p.Sum()": 7, "names[\"a\"][0]": 1.5, "d": "3s", "started.IsZero()": false, "total": 6,
	} {
		res, err := r.Eval(context.Background(), src)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		if got := res.Value.Interface(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", src, got, want)
		}
	}
	// fn was declared, without its value: it is nil
	if res, err := r.Eval(context.Background(), "fn == nil"); err != nil || res.Value.Interface() != true {
		t.Errorf("fn == nil: %v %v", res.Value, err)
	}
	// the restored variables are the session's statement variables: later cells set and ship them
	eval(t, r, "x = 100")
	if v, _ := r.Value("x"); v.Interface() != 100 {
		t.Errorf("x after a later cell: %v", v)
	}
	if got := r.Snapshot(); len(got.Vars) != len(snap.Vars) || len(got.Decls) != len(snap.Decls) {
		t.Errorf("snapshot of the restored session: %+v, want %+v", got, snap)
	}
}

// A variable of an interface the cells declare, restored without a value, is nil and can be read (yaegi's zero
// of such a variable, declared by the restore, could not be until nil was assigned).
func TestRestoreLeavesAnInterfaceVariableWithoutAValueNil(t *testing.T) {
	s, _, _ := newSession(t)
	eval(t, s, "import \"fmt\"\ntype Shape interface{ Area() float64 }\ntype Sq struct{ s float64 }\nfunc (q Sq) Area() float64 { return q.s * q.s }")
	eval(t, s, "sh := Shape(Sq{2})\nn := 3")
	restored, out, _ := newSession(t)
	if _, err := restored.Restore(context.Background(), s.Snapshot(), map[string][]byte{}); err != nil {
		t.Fatal(err)
	}
	eval(t, restored, "fmt.Println(sh == nil, sh, n)")
	if got := out.String(); got != "true <nil> 0\n" {
		t.Errorf("got %q", got)
	}
}
