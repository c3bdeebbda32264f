package process

import (
	"testing"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/executortest"
)

func TestConformance(t *testing.T) {
	for _, c := range []struct {
		name  string
		reuse bool
	}{{"pool", true}, {"local", false}} {
		t.Run(c.name, func(t *testing.T) {
			executortest.Run(t, func(t *testing.T) executors.Executor {
				return NewPool(Config{Name: c.name, Size: 2, Reuse: c.reuse, Command: workerCommand()})
			}, executortest.Options{Capacity: 2})
		})
	}
}
