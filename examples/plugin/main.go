// Command plugin is an example executor plugin (see package executors/plugin for how to write one): a pool of
// worker processes whose electrons see environment variables and a working directory of their own. Register
// it under several names to pin electrons to devices or to bound their threads:
//
//	go build -o /usr/local/lib/govalent/envpool ./examples/plugin
//
//	# ~/.config/govalent/config.toml
//	[executors.gpu0]
//	plugin = "/usr/local/lib/govalent/envpool"
//	workers = 2
//	env = { CUDA_VISIBLE_DEVICES = "0", OMP_NUM_THREADS = "8" }
//	dir = "/scratch/gpu0"
//
//	[executors.gpu1]
//	plugin = "/usr/local/lib/govalent/envpool"
//	env = { CUDA_VISIBLE_DEVICES = "1" }
//
// and pick one in a notebook with ct.Executor("gpu1"). Each name runs its own plugin process.
//
// The settings: workers, the number of worker processes (default: one per CPU); env, variables set for the
// electrons; dir, the directory they run in (it must exist). The workers are this program itself, started
// with the argument "worker": it runs electrons as `govalent worker --pipe` does (interpreted, or from the
// program's native binary), so nothing else needs installing.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/plugin"
	"github.com/govalent/govalent/executors/process"
)

// workerArg starts this program as a worker process of the pool rather than as the plugin.
const workerArg = "worker"

func main() {
	if len(os.Args) == 2 && os.Args[1] == workerArg {
		// Tasks come on fd 3 and outcomes go on fd 4, as the pool starts its workers.
		if err := process.ServePipe(os.NewFile(3, "tasks"), os.NewFile(4, "replies")); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		return
	}
	plugin.Serve(newExecutor)
}

// settings are the keys of the executor's [executors.NAME] table besides "plugin".
type settings struct {
	Workers int               `json:"workers"`
	Env     map[string]string `json:"env"`
	Dir     string            `json:"dir"`
}

// newExecutor makes the pool. The environment and the directory are this process's: the plugin process
// serves one executor, and the worker processes it starts inherit both.
func newExecutor(c plugin.Config) (executors.Executor, error) {
	var s settings
	if err := c.Decode(&s); err != nil {
		return nil, err
	}
	switch {
	case s.Workers < 0:
		return nil, fmt.Errorf("executor %s: workers must be positive, not %d", c.Name, s.Workers)
	case s.Workers == 0:
		s.Workers = runtime.NumCPU()
	}
	for k, v := range s.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(v, 0) {
			return nil, fmt.Errorf("executor %s: env: %q = %q is not an environment variable", c.Name, k, v)
		}
		os.Setenv(k, v)
	}
	if s.Dir != "" {
		if err := os.Chdir(s.Dir); err != nil {
			return nil, fmt.Errorf("executor %s: dir: %w", c.Name, err)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return process.NewPool(process.Config{Name: c.Name, Size: s.Workers, Reuse: true, Command: []string{exe, workerArg},
		Logger: c.Logger}), nil
}
