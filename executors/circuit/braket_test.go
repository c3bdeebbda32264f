package circuit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/circuit"
	"github.com/govalent/govalent/internal/testkit/braketfake"
	"github.com/govalent/govalent/internal/testkit/s3test"
	"github.com/govalent/govalent/internal/testkit/wait"
	"github.com/govalent/govalent/results/objects"
)

const sv1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"

// braketEnv starts the in-process S3 server, the fake Braket API and a braket executor pointed at both, with
// more settings from extra.
func braketEnv(t *testing.T, extra map[string]any) (*circuit.Runner, *braketfake.Server) {
	s3test.Start(t, "braket-results")
	cfg, err := objects.LoadAWS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	fake := braketfake.Start(t, cfg)
	settings := map[string]any{"device_arn": sv1, "s3": "s3://braket-results/tasks", "endpoint": fake.URL, "poll": "5ms",
		"max_poll": "20ms", "shots": 64}
	maps.Copy(settings, extra)
	e, err := circuit.NewBraket("braket", pool(t), settings, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, fake
}

func TestBraketEndToEnd(t *testing.T) {
	e, fake := braketEnv(t, nil)

	r := result(t, outcome(t, submit(e, task("Bell", "200"))))
	if len(r.Counts) != 2 || r.Counts["00"]+r.Counts["11"] != 200 || r.Shots != 200 {
		t.Fatalf("Bell counts %+v", r)
	}
	if math.Abs(r.Expectations["Z0 Z1"]-1) > 1e-12 || math.Abs(r.Expectations["X0"]) > 1e-12 {
		t.Fatalf("Bell expectations %v", r.Expectations)
	}
	if r.Device != sv1 || !strings.HasPrefix(r.TaskARN, "arn:aws:braket:") || fmt.Sprint(r.MeasuredQubits) != "[0 1]" {
		t.Fatalf("Bell metadata %+v", r)
	}
	tasks := fake.Tasks()
	if len(tasks) != 1 || tasks[0].Status != "COMPLETED" || tasks[0].Shots != 200 || tasks[0].Bucket != "braket-results" ||
		!strings.HasPrefix(tasks[0].Prefix, "tasks/") || tasks[0].Device != sv1 {
		t.Fatalf("fake tasks %+v", tasks)
	}
	// The observables went to Braket as result-type pragmas.
	if src := tasks[0].Action.Source; !strings.Contains(src, "#pragma braket result expectation z(q[0]) @ z(q[1])") ||
		!strings.Contains(src, "#pragma braket result expectation x(q[0])") {
		t.Fatalf("program sent:\n%s", src)
	}

	// No shots: exact probabilities from a probability result type; inputs travel in the action.
	r = result(t, outcome(t, submit(e, task("Ansatz", "1.2"))))
	if math.Abs(r.Probabilities["1"]-math.Pow(math.Sin(0.6), 2)) > 1e-12 || math.Abs(r.Expectations["Z0"]-math.Cos(1.2)) > 1e-12 || r.Counts != nil {
		t.Fatalf("Ansatz %+v", r)
	}
	if in := fake.Tasks()[1].Action.Inputs; in["theta"] != 1.2 {
		t.Fatalf("inputs sent %v", in)
	}
	// OpenQASM text runs with the configured shots, a circuit too, with the observables of its settings.
	r = result(t, outcome(t, submit(e, task("Text"))))
	if r.Counts["01"] != 64 {
		t.Fatalf("Text %+v", r)
	}
	tk := task("Circ")
	tk.Settings = map[string]json.RawMessage{"observables": json.RawMessage(`["Z0"]`), "shots": json.RawMessage("8")}
	if r := result(t, outcome(t, submit(e, tk))); r.Counts["01"] != 8 || r.Expectations["Z0"] != -1 {
		t.Fatalf("circuit %+v", r)
	}
	if fake.Unsigned() != 0 {
		t.Fatalf("%d requests were not signed", fake.Unsigned())
	}
	// The fake refuses what is not signed for braket, as AWS does.
	resp, err := http.Post(fake.URL+"/quantum-task", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || fake.Unsigned() != 1 {
		t.Fatalf("unsigned request: %s", resp.Status)
	}
}

func TestBraketFailures(t *testing.T) {
	e, fake := braketEnv(t, nil)

	fake.FailWith("device offline for maintenance")
	o := outcome(t, submit(e, task("Bell", "10")))
	if !strings.Contains(o.Error, "failed: device offline for maintenance") || o.Output != nil {
		t.Fatalf("FAILED task: %+v", o)
	}
	fake.FailWith("")

	// Status checks that fail now and then are retried; a task whose status cannot be read at all is given up
	// and cancelled on Braket.
	fake.FailPolls(3)
	if o := outcome(t, submit(e, task("Bell", "10"))); o.Error != "" {
		t.Fatalf("after 3 failed polls: %+v", o)
	}
	fake.FailPolls(1000)
	o = outcome(t, submit(e, task("Bell", "10")))
	fake.FailPolls(0)
	tasks := fake.Tasks()
	if !strings.Contains(o.Error, "10 status checks in a row failed") || tasks[len(tasks)-1].Status != "CANCELLING" { // CancelQuantumTask was called
		t.Fatalf("unreadable task: %+v, fake says %s", o, tasks[len(tasks)-1].Status)
	}

	// A bad program fails locally with its position, and no task is created.
	before := len(fake.Tasks())
	if o := outcome(t, submit(e, task("BadQASM"))); !strings.Contains(o.Error, "3:1: unknown gate foo") {
		t.Fatalf("bad program: %+v", o)
	}
	if len(fake.Tasks()) != before {
		t.Fatal("a task was created for a bad program")
	}

	// Missing and misspelt settings.
	tk := task("Text")
	tk.Settings = map[string]json.RawMessage{"device_arn": json.RawMessage(`""`)}
	if o := outcome(t, submit(e, tk)); !strings.Contains(o.Error, `needs the "device_arn" setting`) {
		t.Fatalf("missing device: %+v", o)
	}
	tk = task("Text")
	tk.Settings = map[string]json.RawMessage{"device": json.RawMessage(`"x"`)}
	if o := outcome(t, submit(e, tk)); !strings.Contains(o.Error, `unknown field "device"`) {
		t.Fatalf("misspelt setting: %+v", o)
	}
	// The API's errors come back with their type and message.
	tk = task("Text")
	tk.Settings = map[string]json.RawMessage{"s3": json.RawMessage(`"s3://"`)}
	if o := outcome(t, submit(e, tk)); !strings.Contains(o.Error, "names no bucket") {
		t.Fatalf("bad s3: %+v", o)
	}
	// Bad credentials: the signer has nothing to sign with.
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	if o := outcome(t, submit(e, task("Text"))); !strings.Contains(o.Error, "credentials") {
		t.Fatalf("no credentials: %+v", o)
	}
}

func TestBraketCancel(t *testing.T) {
	e, fake := braketEnv(t, nil)
	fake.Hold(true)
	tk := task("Bell", "10")
	ch := submit(e, tk)
	wait.For(t, "the task to queue on Braket", time.Minute, func() bool {
		ts := fake.Tasks()
		return len(ts) == 1 && ts[0].Status == "QUEUED"
	})
	e.Cancel(tk.ID)
	if o := outcome(t, ch); !o.Cancelled {
		t.Fatalf("cancel: %+v", o)
	}
	if ts := fake.Tasks(); !ts[0].Cancelled || ts[0].Status != "CANCELLING" {
		t.Fatalf("CancelQuantumTask was not called: %+v", ts[0])
	}
}

// TestMapResults reads a results.json written the way Braket's simulators write them (extra metadata
// included), independent of the fake.
func TestMapResults(t *testing.T) {
	data, err := os.ReadFile("testdata/results_ghz.json")
	if err != nil {
		t.Fatal(err)
	}
	var tr circuit.TaskResult
	if err := json.Unmarshal(data, &tr); err != nil {
		t.Fatal(err)
	}
	r, err := circuit.MapResults(tr, map[string][]string{"Z0 Z2": {"z0*z2"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Counts["000"] != 3 || r.Counts["111"] != 2 || r.Probabilities["000"] != 0.6 || r.Shots != 5 ||
		r.Expectations["z0*z2"] != 1 || r.Expectations["X1"] != 0.04 {
		t.Fatalf("mapped %+v", r)
	}
	tr.Header.Name = "braket.task_result.annealing_task_result"
	if _, err := circuit.MapResults(tr, nil); err == nil || !strings.Contains(err.Error(), "not braket.task_result.gate_model_task_result") {
		t.Fatalf("wrong schema: %v", err)
	}
}

// The dispatcher parses a task's program and reads its results within the operator's limits: an electron
// cannot raise them, a program beyond them and a task whose results could not fit the memory budget fail
// before anything is created on Braket (no money spent), and a results.json larger than its shots, measured
// qubits and result types account for is not read. The executor goes on running tasks that fit.
func TestBraketLimits(t *testing.T) {
	e, fake := braketEnv(t, map[string]any{"memory": "8MiB", "max_qubits": 20, "max_gates": 1000})
	with := func(tk *executors.Task, settings ...string) *executors.Task {
		tk.Settings = map[string]json.RawMessage{}
		for i := 0; i < len(settings); i += 2 {
			tk.Settings[settings[i]] = json.RawMessage(settings[i+1])
		}
		return tk
	}
	for _, tc := range []struct {
		tk   *executors.Task
		want string
	}{
		{with(task("Text"), "memory", `"64GiB"`), "executor braket setting memory is the operator's ([executors.braket] in the config file); an electron cannot set it"},
		{with(task("Text"), "max_gates", "1000000"), "setting max_gates is the operator's"},
		{with(task("Text"), "max_qubits", "21"), "max_qubits 21 is not from 1 to the 20 configured in [executors.braket]"},
		{with(task("Bell", "10"), "max_qubits", "1"), "the program has 2 qubits; executor braket is limited to 1 (max_qubits)"},
		{task("Long", "1001"), "the program has more than 1000 gates once gate definitions are expanded"},
		// 2^20 exact probabilities: 32 MiB of JSON, 480 MiB in the result.
		{with(task("Long", "10"), "shots", "0"), "the results of 0 shots of 20 measured qubits with 1 result types could take 875.1 MiB of memory to read; the memory budget of executor braket (memory in [executors.braket]) is 8 MiB"},
	} {
		o := outcome(t, submit(e, tc.tk))
		if !strings.Contains(o.Error, tc.want) || o.Output != nil {
			t.Errorf("%s %s: error %q, want %q", tc.tk.Entry, tc.tk.Settings, o.Error, tc.want)
		}
	}
	// The parse alone of a 64 KiB program: 8 MiB for its text, 0.8 MiB for up to 1000 gates on 20 qubits.
	big := with(task("Text"), "observables", `["Z0"]`)
	big.Entry = "Padded"
	big.Program = strings.Replace(program, "func Text()", "func Padded() string { return Text() + \"//\" + strings.Repeat(\" \", 64<<10) }\n\nfunc Text()", 1)
	big.ProgramHash = "q-padded"
	if o := outcome(t, submit(e, big)); !strings.Contains(o.Error, "parsing a 64.03 KiB program of up to 1000 gates on 20 qubits needs 8.798 MiB of memory; the memory budget of executor braket (memory in [executors.braket]) is 8 MiB") {
		t.Errorf("a program whose parse could not fit: %q", o.Error)
	}
	if n := len(fake.Tasks()); n != 0 {
		t.Fatalf("%d tasks were created for jobs beyond the limits", n)
	}

	// Within the limits, a task runs; a results.json padded past what its results account for is refused.
	if r := result(t, outcome(t, submit(e, task("Long", "10")))); r.Shots != 64 || len(r.MeasuredQubits) != 20 {
		t.Fatalf("within the limits: %+v", r)
	}
	fake.Pad(2 << 20)
	o := outcome(t, submit(e, task("Bell", "10")))
	if !strings.Contains(o.Error, "results.json is larger than the 266.3 KiB expected of the results of 10 shots of 2 measured qubits with 2 result types; it was not read") {
		t.Fatalf("a padded results.json: %q", o.Error)
	}
	fake.Pad(0)
	if r := result(t, outcome(t, submit(e, task("Bell", "10")))); r.Counts["00"]+r.Counts["11"] != 10 {
		t.Fatalf("after a padded results.json: %+v", r)
	}

	for _, bad := range []map[string]any{
		{"max_qubits": 1025},
		{"max_qubits": 0},
		{"memory": "lots"},
		{"max_gates": 0},
	} {
		if _, err := circuit.NewBraket("braket", pool(t), bad, quiet()); err == nil {
			t.Errorf("configuration %v: accepted", bad)
		}
	}
}
