package conformance

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// RunInfo says where and how a full run was made, for the results table.
type RunInfo struct {
	Command   string // that regenerates the results
	GoVersion string
	Machine   string // OS/arch, CPUs, CPU model
	Commit    string // of govalent
	Timeout   time.Duration
	Elapsed   time.Duration
}

// Table renders the results of a full run (skipped programs included as skip rows) as the markdown section of
// the README.
func Table(results []Result, info RunInfo) string {
	var b strings.Builder
	var selected, filePass, cellPass, cellRun, both int
	skipReasons := map[string]int{}
	cellSkipReasons := map[string]int{}
	var fileOnly, cellOnly []string
	for _, r := range results {
		if r.File.Status == Skip {
			skipReasons[r.File.Reason]++
			continue
		}
		selected++
		if r.Cell.Status == Skip {
			cellSkipReasons[r.Cell.Reason]++
		} else {
			cellRun++
		}
		fp, cp := r.File.Status == Pass, r.Cell.Status == Pass
		if fp {
			filePass++
		}
		if cp {
			cellPass++
		}
		switch {
		case fp && cp:
			both++
		case fp && r.Cell.Status == Fail:
			fileOnly = append(fileOnly, r.Program)
		case cp:
			cellOnly = append(cellOnly, r.Program)
		}
	}
	fmt.Fprintf(&b, "Recorded with `%s` on %s, govalent %s, %s; %v per program; the full run took %v.\n\n",
		info.Command, info.GoVersion, info.Commit, info.Machine, info.Timeout, info.Elapsed.Round(time.Second))
	fmt.Fprintf(&b, "| | programs |\n|---|---:|\n")
	fmt.Fprintf(&b, "| `// run` programs in `$GOROOT/test/*.go` | %d |\n", len(results))
	for _, reason := range sortedKeys(skipReasons) {
		fmt.Fprintf(&b, "| skipped: %s | %d |\n", reason, skipReasons[reason])
	}
	fmt.Fprintf(&b, "| **selected** | **%d** |\n", selected)
	fmt.Fprintf(&b, "| **file mode: pass** | **%d / %d (%.0f%%)** |\n", filePass, selected, percent(filePass, selected))
	for _, reason := range sortedKeys(cellSkipReasons) {
		fmt.Fprintf(&b, "| cell mode: not run, %s | %d |\n", reason, cellSkipReasons[reason])
	}
	fmt.Fprintf(&b, "| **cell mode: pass** | **%d / %d (%.0f%%)** |\n", cellPass, cellRun, percent(cellPass, cellRun))
	fmt.Fprintf(&b, "| pass in both modes | %d |\n", both)
	fmt.Fprintf(&b, "| pass in file mode, fail in cell mode | %d |\n", len(fileOnly))
	fmt.Fprintf(&b, "| pass in cell mode, fail in file mode | %d |\n\n", len(cellOnly))
	if len(fileOnly) > 0 {
		fmt.Fprintf(&b, "Pass in file mode but fail in cell mode: %s.\n\n", strings.Join(fileOnly, ", "))
	}
	if len(cellOnly) > 0 {
		fmt.Fprintf(&b, "Pass in cell mode but fail in file mode: %s.\n\n", strings.Join(cellOnly, ", "))
	}
	for _, mode := range []struct {
		name    string
		outcome func(Result) Outcome
	}{
		{"file mode", func(r Result) Outcome { return r.File }},
		{"cell mode", func(r Result) Outcome { return r.Cell }},
	} {
		fmt.Fprintf(&b, "Failures in %s (per program in the .tsv file):\n\n", mode.name)
		fmt.Fprintf(&b, "| failures | kind |\n|---:|---|\n")
		for _, row := range countCategories(results, mode.outcome, Kind) {
			fmt.Fprintf(&b, "| %d | %s |\n", row.Count, row.Category)
		}
		fmt.Fprintf(&b, "\n| failures | reason (positions and numbers elided) |\n|---:|---|\n")
		once := 0
		for _, row := range countCategories(results, mode.outcome, Category) {
			if row.Count == 1 {
				once++
				continue
			}
			fmt.Fprintf(&b, "| %d | %s |\n", row.Count, strings.ReplaceAll(row.Category, "|", `\|`))
		}
		if once > 0 {
			fmt.Fprintf(&b, "| %d | other reasons, one program each |\n", once)
		}
		b.WriteString("\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// Compare says how results differ from the baseline: the pass counts in each mode, and the programs that
// passed in the baseline and no longer do.
func Compare(baseline map[string]Result, results []Result) string {
	var b strings.Builder
	b.WriteString("Against `baseline.tsv` (the interpreter before cells were type-checked and run as one unit):\n\n")
	b.WriteString("| | baseline | now |\n|---|---:|---:|\n")
	var lostLines []string
	for _, mode := range []struct {
		name    string
		outcome func(Result) Outcome
	}{{"file mode", func(r Result) Outcome { return r.File }}, {"cell mode", func(r Result) Outcome { return r.Cell }}} {
		var was, now, run, wasRun int
		var lost []string
		for _, r := range results {
			old := baseline[r.Program]
			if o := mode.outcome(old); o.Status != Skip && old.Program != "" {
				wasRun++
				if o.Status == Pass {
					was++
				}
			}
			o := mode.outcome(r)
			if o.Status == Skip {
				continue
			}
			run++
			if o.Status == Pass {
				now++
			} else if mode.outcome(old).Status == Pass {
				lost = append(lost, r.Program)
			}
		}
		fmt.Fprintf(&b, "| %s: pass | %d / %d (%.0f%%) | %d / %d (%.0f%%) |\n", mode.name, was, wasRun, percent(was, wasRun), now, run, percent(now, run))
		if len(lost) > 0 {
			lostLines = append(lostLines, fmt.Sprintf("\nPassed in the baseline, fail now in %s: %s.\n", mode.name, strings.Join(lost, ", ")))
		}
	}
	return b.String() + strings.Join(lostLines, "")
}

func percent(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Markers delimit the generated section of the README.
const (
	tableBegin = "<!-- results: generated by gotest-conformance -write -->"
	tableEnd   = "<!-- end of results -->"
)

// ReplaceTable puts table between the markers of readme.
func ReplaceTable(readme, table string) (string, error) {
	before, rest, ok := strings.Cut(readme, tableBegin)
	if !ok {
		return "", fmt.Errorf("conformance: README has no line %q", tableBegin)
	}
	_, after, ok := strings.Cut(rest, tableEnd)
	if !ok {
		return "", fmt.Errorf("conformance: README has no line %q", tableEnd)
	}
	return before + tableBegin + "\n" + table + "\n" + tableEnd + after, nil
}
