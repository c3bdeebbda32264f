// Command runner is what the tests' Slurm jobs run: `runner worker --once --task DIR/task.json`, the command
// line of `govalent worker --once` for a task of the slurm executor (slurm.RunFile), without the rest of
// govalent's commands.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/govalent/govalent/executors/slurm"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "worker" {
		fmt.Fprintln(os.Stderr, "usage: runner worker --once --task DIR/task.json")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("worker", flag.ExitOnError)
	once := fs.Bool("once", false, "run the one task at --task and exit")
	task := fs.String("task", "", "the task file")
	fs.Parse(os.Args[2:])
	if !*once {
		fmt.Fprintln(os.Stderr, "runner: only --once")
		os.Exit(2)
	}
	if err := slurm.RunFile(*task); err != nil {
		fmt.Fprintln(os.Stderr, "govalent worker:", err)
		os.Exit(1)
	}
}
