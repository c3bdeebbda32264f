package awslambda

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/executortest"
	"github.com/govalent/govalent/internal/testkit/awsfake"
	"github.com/govalent/govalent/internal/testkit/s3test"
	"github.com/govalent/govalent/internal/testkit/workerbin"
)

var workerBinary string

func TestMain(m *testing.M) { workerbin.Main(m, &workerBinary) }

// AWS Lambda (a fake of the Invoke API that runs the real handler, cmd/govalent-lambda, as a cold start per
// invocation, and a fake S3) keeps the contract every executor keeps. Invocations are not queued behind a fixed
// number of slots, so a task is never cancelled while queued here.
func TestConformance(t *testing.T) {
	bootstrap := filepath.Join(t.TempDir(), "bootstrap")
	if out, err := exec.Command("go", "build", "-o", bootstrap, "github.com/govalent/govalent/cmd/govalent-lambda").CombinedOutput(); err != nil {
		t.Fatalf("building the handler: %v\n%s", err, out)
	}
	s3test.Start(t, "team")
	fake := awsfake.StartLambda(t, map[string]awsfake.Function{
		"govalent-worker": {Bootstrap: bootstrap, Environment: map[string]string{"GOVALENT_BIN": workerBinary}},
	})
	t.Setenv("AWS_ENDPOINT_URL_LAMBDA", fake.URL)
	executortest.Run(t, func(t *testing.T) executors.Executor {
		e, err := New("awslambda", map[string]any{"s3": "s3://team/lambda", "function": "govalent-worker", "poll": "20ms", "max_poll": "200ms"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}, executortest.Options{})
}
