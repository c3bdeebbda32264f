package redisq

import (
	"context"
	"testing"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/executortest"
)

// The Redis pool, with one worker of two processes, keeps the contract every executor keeps.
func TestConformance(t *testing.T) {
	r := startRedis(t)
	rdb := newClient(t, r)
	executortest.Run(t, func(t *testing.T) executors.Executor {
		q := newQueue(t, rdb, Options{})
		ctx, stop := context.WithCancel(context.Background())
		w := NewWorker(q, WorkerConfig{Concurrency: 2, Command: []string{workerBinary, "worker", "--pipe"}, Logger: quietLog()})
		ran := make(chan struct{})
		go func() { w.Run(ctx); close(ran) }()
		t.Cleanup(func() { // after the suite closed the pool: the next case starts on an empty Redis
			stop()
			<-ran
			rdb.FlushAll(context.Background())
		})
		return NewPool("pool", q, quietLog())
	}, executortest.Options{Capacity: 2})
}
