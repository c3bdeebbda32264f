package dispatcher_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/dispatcher"
	"github.com/govalent/govalent/internal/testkit/awsfake"
	"github.com/govalent/govalent/internal/testkit/wait"
)

// Electrons on awslambda run through the real handler (cmd/govalent-lambda, driven by a fake of the Lambda
// runtime API) and the real worker, invoked through a fake of the Lambda Invoke API.
func TestAWSLambdaWorkflow(t *testing.T) {
	bootstrap := filepath.Join(t.TempDir(), "bootstrap")
	if out, err := exec.Command("go", "build", "-o", bootstrap, "github.com/govalent/govalent/cmd/govalent-lambda").CombinedOutput(); err != nil {
		t.Fatalf("building the handler: %v\n%s", err, out)
	}
	fake := awsfake.StartLambda(t, map[string]awsfake.Function{
		"govalent-worker": {Bootstrap: bootstrap, Environment: map[string]string{"GOVALENT_BIN": workerBinary}},
	})
	t.Setenv("AWS_ENDPOINT_URL_LAMBDA", fake.URL)
	e := newAWSEnv(t, dispatcher.Config{}, map[string]map[string]any{"awslambda": {
		"s3": "s3://team/lambda", "function": "govalent-worker", "poll": "20ms", "max_poll": "200ms",
	}})
	e.cell(`
import (
	"errors"
	"os"
	"time"
)

func Hello(name string) string { return "hello " + name + " from " + os.Getenv("AWS_LAMBDA_FUNCTION_NAME") }
func Refuse() (int, error) { return 0, errors.New("refused") }
func Nap() int { time.Sleep(time.Minute); return 1 }

var hello = ct.Electron(Hello, ct.Executor("awslambda"))
var refuse = ct.Electron(Refuse, ct.Executor("awslambda"))
var nowhere = ct.Electron(Hello, ct.Executor("awslambda"), ct.With("function", "no-such-function"))
var nap = ct.Electron(Nap, ct.Executor("awslambda"))
var impatient = ct.Electron(Nap, ct.Executor("awslambda"), ct.With("timeout", "1s"))

ok, err := ct.DispatchSync(ct.Lattice(func() ct.Future { return hello("lambda") }))
failed, err := ct.DispatchSync(ct.Lattice(func() ct.Future { return refuse() }))
missing, err := ct.DispatchSync(ct.Lattice(func() ct.Future { return nowhere("x") }))
late, err := ct.DispatchSync(ct.Lattice(func() ct.Future { return impatient() }))
napping, err := ct.Dispatch(ct.Lattice(func() ct.Future { return nap() }))
`)
	if r := e.result("ok"); r.Status != ct.StatusCompleted || r.Result != "hello lambda from govalent-worker" {
		t.Fatalf("ok: %s %v %s", r.Status, r.Result, r.Error)
	}
	for name, want := range map[string]string{
		"failed":  "refused",
		"missing": "Function not found: no-such-function",
		"late":    "no outcome from Lambda function govalent-worker within 1s",
	} {
		if r := e.result(name); r.Status != ct.StatusFailed || !strings.Contains(r.Nodes[0].Error, want) {
			t.Fatalf("%s: %s, node error %q should contain %q", name, r.Status, r.Nodes[0].Error, want)
		}
	}
	// Cancelling cannot stop the invocation; the node is cancelled at once all the same.
	id := e.value("napping").(string)
	wait.For(t, "the invocation to start", 30*time.Second, func() bool {
		r, _ := e.client().GetResult(id, false)
		return len(r.Nodes) == 1 && r.Nodes[0].Status == ct.StatusRunning
	})
	if err := e.client().Cancel(id); err != nil {
		t.Fatal(err)
	}
	if r, err := e.client().GetResult(id, true); err != nil || r.Status != ct.StatusCancelled {
		t.Fatalf("cancelled: %v %+v", err, r)
	}
	var succeeded int
	for _, in := range fake.Invocations() {
		if in.Status == "success" {
			succeeded++
		}
		if !strings.Contains(in.Payload, `"task":"s3://team/lambda/tasks/`) {
			t.Fatalf("payload %s", in.Payload)
		}
	}
	if succeeded != 2 { // hello and refuse; an electron's error is an outcome, not a function error
		t.Fatalf("%d successful invocations, want 2: %+v", succeeded, fake.Invocations())
	}
}
