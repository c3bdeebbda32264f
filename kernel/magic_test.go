package kernel

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govalent/govalent/internal/testkit/wait"
)

func TestLineMagicsAreTheLinesThatBeginAStatement(t *testing.T) {
	tests := []struct {
		code   string
		magics []magicLine
		goCode string
	}{
		{"%env A=1\nx := 1", []magicLine{{text: "env A=1", line: 1}}, "        \nx := 1"},
		{"!echo it's\nfmt.Println(1)", []magicLine{{text: "echo it's", line: 1, shell: true}}, "          \nfmt.Println(1)"},
		{"x := 1 // set\n  %cd /tmp\ny := 2", []magicLine{{text: "cd /tmp", line: 2}}, "x := 1 // set\n          \ny := 2"},
		{"!ls (\n%time f()", []magicLine{{text: "ls (", line: 1, shell: true}, {text: "time f()", line: 2}}, "     \n         "},
		// Go, not magics: a continued expression, inside brackets or a block, in a raw string or a comment
		{"ok := a &&\n\t!b", nil, ""},
		{"f(\n!x)", nil, ""},
		{"for {\n!ls\n}", nil, ""},
		{"s := `\n!not a command\n`", nil, ""},
		{"/*\n%not a magic\n*/", nil, ""},
	}
	for _, tt := range tests {
		goCode, magics := lineMagics(tt.code)
		if tt.goCode == "" {
			tt.goCode = tt.code
		}
		if !reflect.DeepEqual(magics, tt.magics) || goCode != tt.goCode {
			t.Errorf("lineMagics(%q) = %q, %+v; want %q, %+v", tt.code, goCode, magics, tt.goCode, tt.magics)
		}
	}
}

// streams joins the text of a cell's stream messages by stream name.
func streams(msgs []*Message) map[string]string {
	out := map[string]string{}
	for _, m := range msgs {
		if m.Header.MsgType == "stream" {
			c := content(m)
			out[c["name"].(string)] += c["text"].(string)
		}
	}
	return out
}

func TestMagics(t *testing.T) {
	_, c := startTestKernel(t)
	wd, _ := os.Getwd()
	t.Cleanup(func() { os.Chdir(wd) }) // %cd changes the test process's directory
	dir := t.TempDir()
	run := func(code string) (map[string]any, map[string]string) {
		t.Helper()
		rep, out := c.execute(code, false)
		return content(rep), streams(out)
	}
	ok := func(code string) map[string]string {
		t.Helper()
		rep, s := run(code)
		if rep["status"] != "ok" {
			t.Fatalf("%q: %v", code, rep)
		}
		return s
	}

	if s := ok("%help"); !strings.Contains(s["stdout"], "%%writefile [-a] FILE") {
		t.Errorf("%%help: %q", s["stdout"])
	}
	if s := ok("%cd " + dir); s["stdout"] != "Changed directory to \""+dir+"\"\n" {
		t.Errorf("%%cd: %q", s["stdout"])
	}
	if s := ok("%env GOVALENT_MAGIC=x y\n!echo $GOVALENT_MAGIC; pwd; echo oops >&2\nimport (\n\t\"fmt\"\n\t\"os\"\n)\nfmt.Println(os.Getenv(\"GOVALENT_MAGIC\"))"); s["stdout"] != "Set: GOVALENT_MAGIC=\"x y\"\nx y\n"+dir+"\nx y\n" || s["stderr"] != "oops\n" {
		t.Errorf("%%env, !command, then Go: %q", s)
	}
	if s := ok("%env GOVALENT_MAGIC"); s["stdout"] != "x y\n" {
		t.Errorf("%%env NAME: %q", s["stdout"])
	}
	if s := ok("%env"); !strings.Contains(s["stdout"], "\nGOVALENT_MAGIC=x y\n") {
		t.Errorf("%%env lists no GOVALENT_MAGIC: %q", s["stdout"])
	}
	if s := ok("%cd"); s["stdout"] != "Current directory: \""+dir+"\"\n" {
		t.Errorf("%%cd without DIR: %q", s["stdout"])
	}
	// %cd applies where Go runs too
	if s := ok("wd, _ := os.Getwd()\nfmt.Println(wd)"); s["stdout"] != dir+"\n" {
		t.Errorf("the directory of Go code after %%cd: %q", s["stdout"])
	}
	// A notebook's cell has no final newline; the file gets one, as IPython's %%writefile gives it.
	if s := ok("%%writefile notes.txt\nline one\nline two"); s["stdout"] != "Writing notes.txt\n" {
		t.Errorf("%%%%writefile: %q", s["stdout"])
	}
	ok("%%writefile -a notes.txt\nline three\n")
	if b, _ := os.ReadFile(filepath.Join(dir, "notes.txt")); string(b) != "line one\nline two\nline three\n" {
		t.Errorf("the written file: %q", b)
	}
	if s := ok("%%bash\nwc -l < notes.txt\necho $((6 * 7))"); s["stdout"] != "3\n42\n" {
		t.Errorf("%%%%bash: %q", s)
	}
	rep, out := c.execute("%time 40 + 2", false)
	if content(rep)["status"] != "ok" || !strings.HasPrefix(streams(out)["stdout"], "Wall time: ") || content(find(out, "execute_result"))["data"].(map[string]any)["text/plain"] != "42" {
		t.Errorf("%%time: %v %q", content(rep), streams(out))
	}
	ok(`import "strings"`)
	// s is not "declared and not used", nor 1+1 "not used"
	for _, stmt := range []string{`strings.Repeat("ab", 8)`, `s := strings.Repeat("ab", 8)`, `1 + 1`} {
		if s := ok("%timeit " + stmt); !strings.Contains(s["stdout"], " per loop (mean ± std. dev. of ") {
			t.Errorf("%%timeit %s: %q", stmt, s["stdout"])
		}
	}
	ok("kept := 7")
	if s := ok("%reset"); !strings.Contains(s["stdout"], "reset") {
		t.Errorf("%%reset: %q", s)
	}
	if rep, _ := run("kept"); rep["status"] != "error" {
		t.Errorf("a variable survived %%reset: %v", rep)
	}

	// Failures are the cell's, with what failed; Go's messages keep the cell's line numbers.
	for code, want := range map[string]string{
		"!exit 3":                        "exit status 3",
		"%nope":                          "%nope is not a magic",
		"%%nope\nx":                      "%%nope is not a cell magic",
		"%cd /no/such/dir":               "no such file or directory",
		"%env A=1\n\nundefinedThing":     ":3:",
		"%%writefile\nx":                 "one file name",
		"%env GOVALENT_NOT_SET_ANYWHERE": "is not set",
	} {
		if rep, _ := run(code); rep["status"] != "error" || !strings.Contains(rep["evalue"].(string), want) {
			t.Errorf("%q: %v, want an error saying %q", code, rep, want)
		}
	}

	// A shell command is interrupted with everything it started.
	c.request(c.shell, "execute_request", map[string]any{"code": "!sleep 60 & echo $! > bg.pid; sleep 60", "silent": false})
	var bg int
	wait.For(t, "the background sleep's pid", 10*time.Second, func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "bg.pid"))
		bg, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return bg > 0
	})
	c.request(c.control, "interrupt_request", map[string]any{})
	c.reply(c.control, 5*time.Second)
	if rep := c.reply(c.shell, 10*time.Second); rep == nil || content(rep)["ename"] != "Interrupted" {
		t.Fatalf("interrupted !command: %v", rep)
	}
	c.drainUntilIdle(2 * time.Second)
	wait.For(t, "the background sleep to be killed", 10*time.Second, func() bool {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", bg))
		return err != nil || strings.Contains(string(stat), ") Z ") // gone, or a zombie no one reaped yet
	})
}
