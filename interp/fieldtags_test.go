package interp

import (
	"context"
	"strings"
	"testing"
)

// encoding/json and encoding/xml leave a cell's unexported struct fields out, as Go does (yaegi exports them
// under another name), and keep the other tags of those fields.
func TestUnexportedFieldsStayOutOfJSONAndXML(t *testing.T) {
	var out strings.Builder
	s, err := New(Options{Stdout: &out, Stderr: &out})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, cell := range []string{`import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"reflect"
)

type Point struct {
	X      int ` + "`json:\"x\"`" + `
	label  string
	secret string ` + "`db:\"s\" json:\"secret\"`" + `
	Tags   []string
}

type Pair struct {
	XMLName xml.Name ` + "`xml:\"pair\"`" + `
	A int
	b int
}

p := Point{X: 1, label: "a", secret: "s", Tags: []string{"t"}}
b, _ := json.Marshal(p)
fmt.Println(string(b))
var q Point
json.Unmarshal([]byte(` + "`" + `{"x":5,"label":"no","Xlabel":"no","secret":"no"}` + "`" + `), &q)
fmt.Println(q.X, q.label == "", q.secret == "")
x, _ := xml.Marshal(Pair{A: 1, b: 2})
fmt.Println(string(x))
f, _ := reflect.TypeOf(p).FieldByName("Xsecret")
fmt.Println(f.Tag.Get("db"))
`} {
		if _, err := s.Eval(context.Background(), cell); err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
	}
	want := `{"x":1,"Tags":["t"]}
5 true true
<pair><A>1</A></pair>
s
`
	if got := out.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
