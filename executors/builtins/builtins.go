// Package builtins builds the executors govalent ships with, by the names electrons pick them with. The
// dispatcher takes whatever map it is given (dispatcher.Config.Executors); `govalent start` and the tests build
// it here, so an executor is added by writing its package and one line in New.
package builtins

import (
	"fmt"
	"log/slog"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/aws/awsbatch"
	"github.com/govalent/govalent/executors/aws/awslambda"
	"github.com/govalent/govalent/executors/circuit"
	"github.com/govalent/govalent/executors/plugin"
	"github.com/govalent/govalent/executors/process"
	"github.com/govalent/govalent/executors/redisq"
	"github.com/govalent/govalent/executors/slurm"
	sshexec "github.com/govalent/govalent/executors/ssh"
)

// Config says how to build the executors.
type Config struct {
	Workers       int      // processes of the embedded pool; 0 means one per CPU
	WorkerCommand []string // how to start a worker process; default: this executable with "worker --pipe"
	Redis         string   // when set (redis://host:port/db), the "pool" executor is the Redis worker pool
	RedisKey      []byte   // authenticates tasks and outcomes on Redis (redisq.LoadKey)
	// Settings are the [executors.NAME] tables of the config file: each executor's defaults, which an
	// electron's ct.With settings override.
	Settings map[string]map[string]any
	Logger   *slog.Logger
}

// New starts every built-in executor. On an error, those already started are closed.
func New(cfg Config) (_ map[string]executors.Executor, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.NumCPU()
	}
	if len(cfg.WorkerCommand) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		cfg.WorkerCommand = []string{exe, "worker", "--pipe"}
	}
	execs := map[string]executors.Executor{}
	defer func() {
		if err != nil {
			for _, ex := range execs {
				ex.Close()
			}
		}
	}()
	// AWS executors first: a bad [executors.*] table fails before any worker process starts.
	batch, err := awsbatch.New("awsbatch", cfg.Settings["awsbatch"], cfg.Logger)
	if err != nil {
		return nil, err
	}
	execs["awsbatch"] = batch
	lambda, err := awslambda.New("awslambda", cfg.Settings["awslambda"], cfg.Logger)
	if err != nil {
		return nil, err
	}
	execs["awslambda"] = lambda
	sl, err := slurm.New("slurm", cfg.Settings["slurm"], cfg.Logger)
	if err != nil {
		return nil, err
	}
	execs["slurm"] = sl
	remote, err := sshexec.New("ssh", cfg.Settings["ssh"], cfg.Logger)
	if err != nil {
		return nil, err
	}
	execs["ssh"] = remote
	// The [executors.pool] and [executors.local] tables bound what a worker process may send back.
	poolReply, err := process.MaxReply("pool", cfg.Settings["pool"])
	if err != nil && cfg.Redis == "" {
		return nil, err
	}
	localReply, err := process.MaxReply("local", cfg.Settings["local"])
	if err != nil {
		return nil, err
	}
	if cfg.Redis != "" {
		q, err := redisq.Dial(cfg.Redis, redisq.Options{Key: cfg.RedisKey, Logger: cfg.Logger})
		if err != nil {
			return nil, err
		}
		execs["pool"] = redisq.NewPool("pool", q, cfg.Logger)
	} else {
		execs["pool"] = process.NewPool(process.Config{Name: "pool", Size: cfg.Workers, Reuse: true, Command: cfg.WorkerCommand,
			Logger: cfg.Logger, MaxReply: poolReply})
	}
	execs["local"] = process.NewPool(process.Config{Name: "local", Size: runtime.NumCPU(), Reuse: false, Command: cfg.WorkerCommand,
		Logger: cfg.Logger, MaxReply: localReply})
	// Quantum electrons run their Go code on the pool, then their circuit.
	qsim, err := circuit.NewQsim("qsim", execs["pool"], cfg.Settings["qsim"], cfg.Logger)
	if err != nil {
		return nil, err
	}
	execs["qsim"] = qsim
	braket, err := circuit.NewBraket("braket", execs["pool"], cfg.Settings["braket"], cfg.Logger)
	if err != nil {
		return nil, err
	}
	execs["braket"] = braket
	// An [executors.NAME] table with a "plugin" key starts the executor plugin NAME (package executors/plugin).
	for name, table := range cfg.Settings {
		if _, builtin := execs[name]; builtin {
			continue // a built-in executor's table, which refused a "plugin" key above
		}
		ex, ok, err := plugin.FromSettings(name, table, cfg.Logger)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("[executors.%s]: no executor is called %s (the built-in ones: %s), and the table has no %q key to make it a plugin",
				name, name, strings.Join(slices.Sorted(maps.Keys(execs)), ", "), plugin.PathSetting)
		}
		execs[name] = ex
	}
	return execs, nil
}
