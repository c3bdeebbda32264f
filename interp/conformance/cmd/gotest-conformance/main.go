// Command gotest-conformance runs Go's own test programs ($GOROOT/test, the files marked `// run`) through
// govalent's interpreter in file mode and in cell mode, and reports or records the results.
//
//	go run ./interp/conformance/cmd/gotest-conformance            # run all, print the table
//	go run ./interp/conformance/cmd/gotest-conformance -run 'chan' # run the programs whose name matches
//	go run ./interp/conformance/cmd/gotest-conformance -dir "$(go env GOROOT)/test/typeparam" # another directory
//	go run ./interp/conformance/cmd/gotest-conformance -write      # run all, rewrite results.tsv and README.md
//
// It runs each program in a child process, itself started with -child.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/govalent/govalent/interp/conformance"
)

const regenerate = "go run ./interp/conformance/cmd/gotest-conformance -write"

func main() {
	child := flag.String("child", "", "run one program in this process in `mode` file or cell (used by the runner)")
	report := flag.String("report", "", "with -child: write the interpreter's error to this `file`")
	dir := flag.String("dir", "", "test `directory` (default $(go env GOROOT)/test)")
	timeout := flag.Duration("timeout", 20*time.Second, "time limit of each program in each mode")
	run := flag.String("run", "", "run only the programs whose file name matches this `regexp`")
	write := flag.Bool("write", false, "rewrite interp/conformance/results.tsv and the results table of its README.md")
	flag.Parse()

	if *child != "" {
		mode, err := conformance.ParseMode(*child)
		if err != nil || flag.NArg() != 1 || *report == "" {
			fmt.Fprintln(os.Stderr, "usage: gotest-conformance -child file|cell -report FILE PROGRAM.go")
			os.Exit(2)
		}
		os.Exit(conformance.RunChild(mode, flag.Arg(0), *report))
	}
	if err := runAll(*dir, *run, *timeout, *write); err != nil {
		slog.Error("gotest-conformance", "err", err)
		os.Exit(1)
	}
}

func runAll(dir, run string, timeout time.Duration, write bool) error {
	if write && (run != "" || dir != "") {
		return errors.New("-write records the full set of $(go env GOROOT)/test: drop -run and -dir")
	}
	if dir == "" {
		goroot, err := conformance.GoEnv("GOROOT")
		if err != nil {
			return err
		}
		dir = filepath.Join(goroot, "test")
	}
	match, err := regexp.Compile(run)
	if err != nil {
		return err
	}
	progs, skipped, err := conformance.Select(dir)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var chosen []conformance.Program
	for _, p := range progs {
		if match.MatchString(p.Name) {
			chosen = append(chosen, p)
		}
	}
	r := &conformance.Runner{Child: []string{self}, Timeout: timeout}
	start := time.Now()
	results := r.RunAll(context.Background(), chosen, func(res conformance.Result) {
		slog.Info(res.Program, "file", res.File.Status, "cell", res.Cell.Status, "file_reason", res.File.Reason, "cell_reason", res.Cell.Reason)
	})
	elapsed := time.Since(start)
	for _, s := range skipped {
		if match.MatchString(s.Name) {
			results = append(results, conformance.Result{Program: s.Name, File: conformance.Outcome{Status: conformance.Skip, Reason: s.Reason}, Cell: conformance.Outcome{Status: conformance.Skip, Reason: s.Reason}})
		}
	}
	info := conformance.RunInfo{
		Command:   regenerate,
		GoVersion: runtime.Version(),
		Machine:   machine(),
		Commit:    commit(),
		Timeout:   timeout,
		Elapsed:   elapsed,
	}
	table := conformance.Table(results, info)
	if !write {
		fmt.Println(table)
		return nil
	}
	return record(results, info, table)
}

// record rewrites results.tsv and the README's results table, which compares them with baseline.tsv (the
// interpreter before the work on cells, kept as it was).
func record(results []conformance.Result, info conformance.RunInfo, table string) error {
	gomod, err := conformance.GoEnv("GOMOD")
	if err != nil {
		return err
	}
	pkgDir := filepath.Join(filepath.Dir(gomod), "interp", "conformance")
	f, err := os.Open(filepath.Join(pkgDir, "baseline.tsv"))
	if err != nil {
		return err
	}
	baseline, err := conformance.ReadBaseline(f)
	f.Close()
	if err != nil {
		return err
	}
	table += "\n" + conformance.Compare(baseline, results)
	var b bytes.Buffer
	comment := fmt.Sprintf("%s on %s, govalent %s; regenerate: %s", info.GoVersion, info.Machine, info.Commit, info.Command)
	if err := conformance.WriteBaseline(&b, comment, sortByName(results)); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(pkgDir, "results.tsv"), b.Bytes(), 0o644); err != nil {
		return err
	}
	readmePath := filepath.Join(pkgDir, "README.md")
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		return err
	}
	updated, err := conformance.ReplaceTable(string(readme), table)
	if err != nil {
		return err
	}
	return os.WriteFile(readmePath, []byte(updated), 0o644)
}

func sortByName(results []conformance.Result) []conformance.Result {
	sorted := append([]conformance.Result{}, results...)
	slices.SortFunc(sorted, func(a, b conformance.Result) int { return strings.Compare(a.Program, b.Program) })
	return sorted
}

// machine describes this machine: OS/arch, CPUs and, where /proc says, the CPU model.
func machine() string {
	m := fmt.Sprintf("%s/%s, %d CPUs", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	if info, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(info), "\n") {
			if name, ok := strings.CutPrefix(line, "model name"); ok {
				return m + ", " + strings.TrimSpace(strings.TrimLeft(name, "\t :"))
			}
		}
	}
	return m
}

// commit is govalent's commit, marked dirty when the work tree has changes.
func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "(commit unknown: " + err.Error() + ")"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		c += "+changes"
	}
	return c
}
