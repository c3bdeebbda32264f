package dispatcher

import (
	"runtime"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/redisq"
)

// newExecutors starts every executor this dispatcher offers, by the name electrons pick them with.
func newExecutors(cfg Config) (map[string]executors.Executor, error) {
	execs := map[string]executors.Executor{}
	if cfg.Redis != "" {
		q, err := redisq.Dial(cfg.Redis, redisq.Options{})
		if err != nil {
			return nil, err
		}
		execs["pool"] = redisq.NewExecutor("pool", q, cfg.Logger)
	} else {
		execs["pool"] = executors.NewProcessPool(executors.PoolConfig{Name: "pool", Size: cfg.Workers, Reuse: true, Command: cfg.WorkerCommand, Logger: cfg.Logger})
	}
	execs["local"] = executors.NewProcessPool(executors.PoolConfig{Name: "local", Size: runtime.NumCPU(), Reuse: false, Command: cfg.WorkerCommand, Logger: cfg.Logger})
	return execs, nil
}
