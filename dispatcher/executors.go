package dispatcher

import (
	"runtime"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/aws/awsbatch"
	"github.com/govalent/govalent/executors/aws/awslambda"
	"github.com/govalent/govalent/executors/circuit"
	"github.com/govalent/govalent/executors/process"
	"github.com/govalent/govalent/executors/redisq"
)

// newExecutors starts every executor this dispatcher offers, by the name electrons pick them with.
func newExecutors(cfg Config) (map[string]executors.Executor, error) {
	execs := map[string]executors.Executor{}
	// AWS executors first: a bad [executors.*] table fails before any worker process starts.
	batch, err := awsbatch.New("awsbatch", cfg.ExecutorSettings["awsbatch"], cfg.Logger)
	if err != nil {
		return nil, err
	}
	execs["awsbatch"] = batch
	lambda, err := awslambda.New("awslambda", cfg.ExecutorSettings["awslambda"], cfg.Logger)
	if err != nil {
		return nil, err
	}
	execs["awslambda"] = lambda
	// The [executors.pool] and [executors.local] tables bound what a worker process may send back.
	poolReply, err := process.MaxReply("pool", cfg.ExecutorSettings["pool"])
	if err != nil && cfg.Redis == "" {
		return nil, err
	}
	localReply, err := process.MaxReply("local", cfg.ExecutorSettings["local"])
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
	qsim, err := circuit.NewQsim("qsim", execs["pool"], cfg.ExecutorSettings["qsim"], cfg.Logger)
	if err != nil {
		return nil, err
	}
	execs["qsim"] = qsim
	braket, err := circuit.NewBraket("braket", execs["pool"], cfg.ExecutorSettings["braket"], cfg.Logger)
	if err != nil {
		return nil, err
	}
	execs["braket"] = braket
	return execs, nil
}
