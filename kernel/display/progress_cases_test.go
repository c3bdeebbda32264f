package display_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/kernel/display"
)

// progressCases are dispatches whose progress displays are compared with those of the display that read
// whole results (testdata/progress.golden.json). Their times are fixed, so the displays are too.
func progressCases() []*ct.Result {
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	t1 := t0.Add(90 * time.Second)
	running := sampleResult()
	running.Status, running.Error = ct.StatusRunning, ""
	manyFailed := &ct.Result{DispatchID: "d-many", Name: "fan", Status: ct.StatusFailed, StartTime: &t0, EndTime: &t1,
		Error: "7 node(s) failed: node 1 (f): boom; node 2 (f): boom"}
	for i := range 9 {
		n := ct.NodeResult{NodeID: i, Name: fmt.Sprintf("f<%d>", i), Status: ct.StatusFailed, Error: fmt.Sprintf("boom %d\n%s", i, strings.Repeat("stack\n", 50))}
		switch i {
		case 0:
			n.Status, n.Error = ct.StatusCompleted, ""
		case 5:
			n.Error = "one line, no stack"
		case 8:
			n.Status, n.Error = ct.StatusNew, ""
		}
		manyFailed.Nodes = append(manyFailed.Nodes, n)
	}
	cancelled := &ct.Result{DispatchID: "d-cancel", Name: "c", Status: ct.StatusCancelled, StartTime: &t0, EndTime: &t1,
		Error: "cancelled nodes: 1, 2\nand <more>", Nodes: []ct.NodeResult{
			{NodeID: 0, Name: "a", Status: ct.StatusCompleted},
			{NodeID: 1, Name: "b", Status: ct.StatusCancelled},
			{NodeID: 2, Name: "c", Status: ct.StatusCancelled},
		}}
	empty := &ct.Result{DispatchID: "d-new", Name: "nothing yet", Status: ct.StatusNew}
	return []*ct.Result{running, sampleResult(), manyFailed, cancelled, empty}
}

// A progress display made from a Progress, as the kernel gets it from the dispatcher (in JSON), is the one
// made before from the whole result.
func TestProgressBundleFromCounts(t *testing.T) {
	data, err := os.ReadFile("testdata/progress.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var want []display.Bundle
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	cases := progressCases()
	if len(want) != len(cases) {
		t.Fatalf("%d golden displays for %d cases", len(want), len(cases))
	}
	for i, r := range cases {
		wire, err := json.Marshal(ct.ProgressOf(r))
		if err != nil {
			t.Fatal(err)
		}
		var p ct.Progress
		if err := json.Unmarshal(wire, &p); err != nil {
			t.Fatal(err)
		}
		for _, f := range p.Failures {
			if _, rest, _ := strings.Cut(f.Error, "\n"); rest != "" {
				t.Errorf("%s: node %d's error travels past its first line: %q", r.DispatchID, f.NodeID, f.Error)
			}
		}
		got := display.ProgressBundle(&p, "https://gui.example/x")
		for _, mime := range []string{display.MIMEText, display.MIMEHTML} {
			if got[mime] != want[i][mime] {
				t.Errorf("%s %s:\n got %s\nwant %s", r.DispatchID, mime, got[mime], want[i][mime])
			}
		}
	}
}
