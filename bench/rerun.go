//go:build ignore

// SIGKILL-to-re-run probe: one electron that appends "start <unix-nanos> <ppid>" to the file named by
// $RERUN_FILE and then sleeps 3 s. bench/redis_run.sh kills the worker named by the first line's ppid (the
// `govalent worker` process that runs the electron's worker process) and times until a second start line.
// Run with `govalent run bench/rerun.go`; prints: govalent_rerun status=... starts=...
package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	ct "github.com/govalent/govalent/ct"
)

func Slow(path string) int {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		panic(err)
	}
	fmt.Fprintf(f, "start %d %d\n", time.Now().UnixNano(), os.Getppid())
	f.Close()
	time.Sleep(3 * time.Second)
	return 1
}

var slow = ct.Electron(Slow)

var rerun = ct.Lattice(func(path string) ct.Future { return slow(path) })

func main() {
	path := os.Getenv("RERUN_FILE")
	if path == "" {
		panic("RERUN_FILE is not set")
	}
	res, err := ct.DispatchSync(rerun, path)
	if err != nil {
		panic(err)
	}
	b, _ := os.ReadFile(path)
	fmt.Printf("govalent_rerun status=%s result=%v starts=%d\n", res.Status, res.Result, strings.Count(string(b), "start "))
	if res.Status != ct.StatusCompleted {
		os.Exit(1)
	}
}
