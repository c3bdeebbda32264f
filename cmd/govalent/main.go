// Command govalent is the dispatcher, its workers, its CLI, and a runner for Go workflow files.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/govalent/govalent/kernel"
)

type command struct {
	summary string
	run     func(args []string) error
}

var commands map[string]command

func init() {
	commands = map[string]command{
		"start":      {"start the dispatcher (in the background unless --foreground)", cmdStart},
		"stop":       {"stop the dispatcher", cmdStop},
		"status":     {"show the dispatcher, its executors and workers", cmdStatus},
		"list":       {"list dispatches", cmdList},
		"result":     {"show a dispatch's result: result ID [--wait] [--json]", cmdResult},
		"cancel":     {"cancel a dispatch or some of its nodes: cancel ID [NODE...]", cmdCancel},
		"logs":       {"print the dispatcher log", cmdLogs},
		"backup":     {"copy the running dispatcher's results into a new directory: backup DIR", cmdBackup},
		"login-link": {"print a one-time link that logs a browser into the web UI", cmdLoginLink},
		"run":        {"evaluate a Go file as one notebook cell: run FILE.go", cmdRun},
		"worker":     {"run tasks (started by the dispatcher with --pipe)", cmdWorker},
		"kernel":     {"the Jupyter kernel: kernel -f FILE, kernel install|uninstall", cmdKernel},
		"restart":    {"stop the dispatcher and start it again with the settings given", cmdRestart},
		"purge":      {"delete finished dispatches: purge --before DATE|AGE and/or --status S [--yes]", cmdPurge},
		"config":     {"show the settings and where each comes from; config set KEY VALUE", cmdConfig},
		"service":    {"run the dispatcher or workers under systemd or launchd: service install|uninstall", cmdService},
		"completion": {"print a shell completion script: completion bash|zsh|fish", cmdCompletion},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: govalent COMMAND [flags]\n\ncommands:")
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun govalent COMMAND -h for a command's flags.")
}

// exitError carries a process exit code.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func main() {
	if len(os.Args) < 2 {
		usage(os.Stderr)
		os.Exit(2)
	}
	name := os.Args[1]
	if name == "-h" || name == "--help" || name == "help" {
		usage(os.Stdout)
		return
	}
	cmd, ok := commands[name]
	if name == "evaluator" {
		// not listed: the kernel starts it, to run cells in
		cmd, ok = command{run: func([]string) error { return kernel.RunEvaluator() }}, true
	}
	if !ok {
		fmt.Fprintf(os.Stderr, "govalent: unknown command %q\n\n", name)
		usage(os.Stderr)
		os.Exit(2)
	}
	if err := cmd.run(os.Args[2:]); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "govalent "+name+":", err)
		os.Exit(1)
	}
}
