package circuit_test

import (
	"context"
	"testing"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/circuit"
	"github.com/govalent/govalent/executors/executortest"
	"github.com/govalent/govalent/internal/testkit/braketfake"
	"github.com/govalent/govalent/internal/testkit/s3test"
	"github.com/govalent/govalent/results/objects"
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

// The braket executor (against the fake Braket API and a fake S3) keeps the same contract.
func TestBraketConformance(t *testing.T) {
	s3test.Start(t, "braket-results")
	cfg, err := objects.LoadAWS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	fake := braketfake.Start(t, cfg)
	executortest.Run(t, func(t *testing.T) executors.Executor {
		e, err := circuit.NewBraket("braket", pool(t), map[string]any{"device_arn": sv1, "s3": "s3://braket-results/tasks",
			"endpoint": fake.URL, "poll": "5ms", "max_poll": "20ms", "shots": 64}, quiet())
		if err != nil {
			t.Fatal(err)
		}
		return e
	}, executortest.Options{Capacity: 2, NotReturnValues: true})
}
