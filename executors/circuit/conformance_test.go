package circuit_test

import (
	"testing"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/circuit"
	"github.com/govalent/govalent/executors/executortest"
)

// The qsim executor keeps the contract in the electron's phase: the suite's electrons return no circuit, so it
// checks failures, cancellation, time limits, Close and that each task has one outcome, not outputs.
func TestConformance(t *testing.T) {
	executortest.Run(t, func(t *testing.T) executors.Executor {
		e, err := circuit.NewQsim("qsim", pool(t), nil, quiet())
		if err != nil {
			t.Fatal(err)
		}
		return e
	}, executortest.Options{Capacity: 2, NotReturnValues: true})
}
