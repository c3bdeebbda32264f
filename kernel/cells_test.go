package kernel

import (
	"strings"
	"testing"
)

// streamsAndError returns what a cell wrote to stdout and stderr, its result's text and its error's value.
func streamsAndError(out []*Message) (stdout, stderr, result, errValue string, errors int) {
	for _, m := range out {
		c := content(m)
		switch m.Header.MsgType {
		case "stream":
			if c["name"] == "stdout" {
				stdout += c["text"].(string)
			} else {
				stderr += c["text"].(string)
			}
		case "execute_result":
			result, _ = c["data"].(map[string]any)["text/plain"].(string)
		case "error":
			errValue, _ = c["evalue"].(string)
			errors++
		}
	}
	return
}

// Cells written as the body of a main are run as one: each pattern from issue 14 through the kernel; errors
// name the cell by its execution count, also after a `name?` cell (which Eval does not see).
func TestCellsBehaveLikeGo(t *testing.T) {
	_, c := startTestKernel(t)
	for _, tc := range []struct{ code, stdout, result, err string }{
		{code: "m := map[string]int{\"a\": 1}\nv, ok := m[\"a\"]\nvar x any = []any{1}\nxs, isSlice := x.([]any)\nch := make(chan int, 1)\nch <- 2\nr, open := <-ch\nfmt.Println(v, ok, len(xs), isSlice, r, open)\nclose(ch)",
			stdout: "1 true 1 true 2 true\n"},
		{code: "delete(m, \"a\")"},
		{code: "rd := strings.NewReader(\"ab\")\nfor {\n\tb, err := rd.ReadByte()\n\tif err != nil {\n\t\tbreak\n\t}\n\tfmt.Print(string(b))\n}", stdout: "ab"},
		{code: "defer fmt.Println(\"deferred\")\nfmt.Println(\"body\")", stdout: "body\ndeferred\n"},
		{code: "func main() { fmt.Println(\"main\") }", stdout: "main\n"},
		{code: "len(m) + 1", result: "1"},
		{code: "func f(x float64, p *int) { fmt.Println(x, p == nil) }\ndone := make(chan bool)\ngo func() { f(3, nil); done <- true }()\n<-done\ngo f(4, nil)\ntime.Sleep(20 * time.Millisecond)", stdout: "3 true\n4 true\n"},
		{code: "for i := range 3 { fmt.Print(i) }\nvar fs []func()\nfor i := 0; i < 2; i++ { fs = append(fs, func() { fmt.Print(i) }) }\nfor _, f := range fs { f() }\nfmt.Println(min(2, len(fs)), max(1.5, 2))", stdout: "012012 2\n"},
		{code: "fmt.Println(undefinedThing)", err: "cell9:1:13: undefined: undefinedThing"},
		{code: "fmt.Println?"},
		{code: "x := 1\nx := 2", err: "cell11:2:3: no new variables on left side of :="},
		{code: "os.Exit(3)", err: "cell12:1: os.Exit(3)"},
		{code: "fmt.Println(\"still running\")", stdout: "still running\n"},
		{code: "defer fmt.Println(\"deferred\")\nif len(m) == 0 {\n\tfmt.Println(\"early\")\n\treturn\n}\nfmt.Println(\"late\")", stdout: "early\ndeferred\n"},
		{code: "return len(m)", err: "cell15:1:1: a return at the top level of a cell ends the cell and takes no values"},
		{code: "type pt struct{ x, y int }\nfmt.Printf(\"%T %+v %#v\\n\", pt{1, 2}, pt{1, 2}, &pt{3, 4})", stdout: "main.pt {x:1 y:2} &main.pt{x:3, y:4}\n"},
		{code: "type cel float64\nfunc (c cel) String() string { return \"c\" }\nfmt.Println([]cel{1})", err: "cell17:3:13: %v of []main.cel would not call the String method of the main.cel inside it"},
		{code: "const (\n\tk0 = iota\n\tiota = iota\n\tk1\n)\nfmt.Println(k0, k1)", stdout: "0 1\n"},
	} {
		_, out := c.execute(tc.code, false)
		stdout, stderr, result, errValue, errors := streamsAndError(out)
		if stdout != tc.stdout || result != tc.result || !strings.Contains(errValue, tc.err) || (tc.err == "") != (errors == 0) || errors > 1 {
			t.Errorf("cell %q:\nstdout %q want %q\nresult %q want %q\nerror %q (%d) want %q", tc.code, stdout, tc.stdout, result, tc.result, errValue, errors, tc.err)
		}
		if strings.Contains(stderr, "nil type") || strings.Contains(stderr, "panic") {
			t.Errorf("cell %q: interpreter internals on stderr: %q", tc.code, stderr)
		}
	}
}
