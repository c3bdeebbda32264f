package native

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/govalent/govalent/internal/testkit/modproxy"
)

// greetTest is a session's test of a module's function, as interp.Session.TestProgram writes it.
const greetTest = "package govalenttest\n\nimport (\n\tgreet \"example.org/greet\"\n\t\"testing\"\n)\n\n/*line cell2:1:1*/func TestGreet(t *testing.T) { if got := greet.Hello(\"go\"); got != \"hello, GO\" { t.Fatalf(\"Hello says %q\", got) } }\n"

// Tests that import modules run in module mode with the session's versions; a compile error is at its cell.
func TestGoTestWithModules(t *testing.T) {
	modproxy.UseProxy(t, modproxy.GreetVersions(t))
	b := newBuilder(t, t.TempDir())
	test := func(version, source string) (string, error) {
		prog := sessionProgram(t, "example.org/greet@"+version)
		prog.Source = source
		var out bytes.Buffer
		err := b.Test(context.Background(), prog, nil, &out, &out)
		return out.String(), err
	}
	if out, err := test("v1.2.0", greetTest); err != nil || !strings.Contains(out, "--- PASS: TestGreet") {
		t.Fatalf("with greet v1.2.0: %v\n%s", err, out)
	}
	out, err := test("v1.3.0", greetTest)
	var failed *TestFailure
	if !errors.As(err, &failed) || !reflect.DeepEqual(failed.Failed, []string{"TestGreet"}) || !strings.Contains(out, `Hello says "v1.3.0 says hi to go"`) {
		t.Fatalf("with greet v1.3.0: %v\n%s", err, out)
	}
	_, err = test("v1.2.0", strings.Replace(greetTest, "greet.Hello(\"go\")", "greet.Hello(1)", 1))
	var ce *CompileError
	if !errors.As(err, &ce) || !strings.HasPrefix(ce.Output, "cell2:1:") {
		t.Fatalf("a compile error: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(b.dir, "modt", "*")); len(left) != 0 {
		t.Fatalf("test directories left: %v", left)
	}
}
