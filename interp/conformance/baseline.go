package conformance

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
)

// baselineColumns is the header row of a baseline file.
const baselineColumns = "program\tsha256\tfile\tcell\tfile_reason\tcell_reason"

// WriteBaseline writes results as tab-separated rows under a comment line and a header row. Skipped programs
// are rows whose two statuses are skip.
func WriteBaseline(w io.Writer, comment string, results []Result) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# %s\n%s\n", comment, baselineColumns)
	for _, r := range results {
		sha := r.SHA256
		if sha == "" {
			sha = "-"
		}
		fmt.Fprintf(bw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Program, sha, r.File.Status, r.Cell.Status, r.File.Reason, r.Cell.Reason)
	}
	return bw.Flush()
}

// ReadBaseline reads what WriteBaseline wrote, by program name.
func ReadBaseline(r io.Reader) (map[string]Result, error) {
	results := map[string]Result{}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	header := false
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		if !header {
			if line != baselineColumns {
				return nil, fmt.Errorf("baseline line %d: header %q, want %q", n, line, baselineColumns)
			}
			header = true
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 6 {
			return nil, fmt.Errorf("baseline line %d: %d fields, want 6", n, len(f))
		}
		res := Result{Program: f[0], SHA256: strings.TrimPrefix(f[1], "-"), File: Outcome{Status(f[2]), f[4]}, Cell: Outcome{Status(f[3]), f[5]}}
		for _, st := range []Status{res.File.Status, res.Cell.Status} {
			if st != Pass && st != Fail && st != Skip {
				return nil, fmt.Errorf("baseline line %d: status %q", n, st)
			}
		}
		results[res.Program] = res
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !header {
		return nil, fmt.Errorf("baseline: no header row %q", baselineColumns)
	}
	return results, nil
}

// SampleSize is the number of programs the regression test runs.
const SampleSize = 40

// Sample picks n of the sorted program names, evenly spaced, so that the choice depends on the set of programs
// only, never on their results.
func Sample(names []string, n int) []string {
	if n >= len(names) {
		return names
	}
	sample := make([]string, n)
	for i := range sample {
		sample[i] = names[i*len(names)/n]
	}
	return sample
}

var (
	positionRe = regexp.MustCompile(`[^\s:]*:\d+:\d+: `)
	sourceRe   = regexp.MustCompile(`^(cell\d+|\S+\.go): `)
	numberRe   = regexp.MustCompile(`\d+`)
	missingRe  = regexp.MustCompile(`^import ("[^"]+") error: unable to find source`)
)

// Category groups failure reasons into the kinds the results table counts: the message without positions and
// numbers, and for wrong output and exits without an interpreter error, just that.
func Category(reason string) string {
	switch {
	case strings.HasPrefix(reason, "timeout"):
		return "timeout"
	case strings.HasPrefix(reason, "output:"):
		return "wrong output (exit status 0)"
	case strings.HasPrefix(reason, "exit status"), strings.HasPrefix(reason, "signal:"):
		before, _, _ := strings.Cut(reason, ":")
		return before + " without an interpreter error (a Go panic, os.Exit or a crash)"
	}
	c := sourceRe.ReplaceAllString(positionRe.ReplaceAllString(reason, ""), "")
	if m := missingRe.FindStringSubmatch(c); m != nil {
		return "import " + m[1] + ": package not available to the interpreter"
	}
	c = numberRe.ReplaceAllString(c, "N")
	const max = 90
	if len(c) > max {
		c = c[:max] + "..."
	}
	return c
}

// Kind is the broad class of a failure reason, for the summary of the results table.
func Kind(reason string) string {
	c := Category(reason)
	switch {
	case strings.HasPrefix(c, "import "):
		return "imports a package the interpreter lacks (unsafe, os/exec, syscall, ...)"
	case c == "timeout", c == "wrong output (exit status 0)", strings.Contains(c, "without an interpreter error"):
		return c
	case strings.HasPrefix(c, "cannot compile"):
		return "the interpreter's compiler panicked (cannot compile: ...)"
	case strings.HasPrefix(c, "panic: os.Exit("):
		return "os.Exit reported as a panic"
	case strings.HasPrefix(c, "panic: reflect"), strings.HasPrefix(c, "panic: runtime error"),
		strings.HasPrefix(c, "panic: interface conversion"), strings.HasPrefix(c, "panic: N:N:"):
		return "the interpreter panicked at run time (reflect, nil dereference, conversion)"
	case strings.HasPrefix(c, "panic: "):
		return "the program's own check failed (it panicked: a wrong result)"
	}
	return "the interpreter rejected valid code (undefined:, too many arguments, ...)"
}

// categoryCount is one row of a failure table.
type categoryCount struct {
	Category string
	Count    int
}

// countCategories counts the failures in one mode by group (Kind or Category), most frequent first.
func countCategories(results []Result, outcome func(Result) Outcome, group func(string) string) []categoryCount {
	counts := map[string]int{}
	for _, r := range results {
		if o := outcome(r); o.Status == Fail {
			counts[group(o.Reason)]++
		}
	}
	var rows []categoryCount
	for c, n := range counts {
		rows = append(rows, categoryCount{c, n})
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Count != rows[j].Count {
			return rows[i].Count > rows[j].Count
		}
		return rows[i].Category < rows[j].Category
	})
	return rows
}
