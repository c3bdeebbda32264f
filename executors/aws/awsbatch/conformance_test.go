package awsbatch

import (
	"testing"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/executortest"
	"github.com/govalent/govalent/internal/testkit/awsfake"
	"github.com/govalent/govalent/internal/testkit/s3test"
	"github.com/govalent/govalent/internal/testkit/workerbin"
)

var workerBinary string

func TestMain(m *testing.M) { workerbin.Main(m, &workerBinary) }

// AWS Batch (a fake that runs each job as a local process, and a fake S3) keeps the contract every executor
// keeps. Jobs are not queued behind a fixed number of slots, so a task is never cancelled while queued here.
func TestConformance(t *testing.T) {
	s3test.Start(t, "team")
	fake := awsfake.StartBatch(t, map[string]string{"govalent": workerBinary}, "jobs")
	t.Setenv("AWS_ENDPOINT_URL_BATCH", fake.URL)
	executortest.Run(t, func(t *testing.T) executors.Executor {
		e, err := New("awsbatch", map[string]any{"s3": "s3://team/govalent", "job_queue": "jobs", "image": "example/govalent:latest",
			"poll": "20ms", "max_poll": "200ms", "vcpu": 1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}, executortest.Options{})
}
