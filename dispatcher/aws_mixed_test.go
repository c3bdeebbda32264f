package dispatcher_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/dispatcher"
	"github.com/govalent/govalent/executors/filetransfer"
	"github.com/govalent/govalent/results/objects"
)

// A workflow mixing the pool, AWS Batch and file transfers from and to S3 completes, and with the object store
// in S3 and the database outside the data directory, its whole result (large outputs included) is readable
// after the data directory is wiped: everything needed is in S3 and the database.
func TestMixedWorkflowOutlivesTheDataDirectory(t *testing.T) {
	dataDir := t.TempDir()
	db := filepath.Join(t.TempDir(), "govalent.db")
	report := filepath.Join(t.TempDir(), "report.txt")
	t.Setenv(filetransfer.DirsEnv, filepath.Dir(report)) // the pool's workers may upload from there
	e := newAWSEnv(t, dispatcher.Config{DataDir: dataDir, Database: db, ObjectStore: "s3://team/results"}, nil)
	ctx := context.Background()
	bucket, err := objects.NewS3(ctx, "s3://team")
	if err != nil {
		t.Fatal(err)
	}
	if err := bucket.Put(ctx, "inputs/numbers.txt", strings.NewReader("1 2 3 4 5 6 7 8 9 10")); err != nil {
		t.Fatal(err)
	}
	workflow := `
import (
	"os"
	"strconv"
	"strings"
)

// Load runs on Batch; its input file arrives from S3 into the job's working directory.
func Load() ([]int, error) {
	files := ct.ArrivedFiles()
	data, err := os.ReadFile(files[0])
	if err != nil {
		return nil, err
	}
	var xs []int
	for _, f := range strings.Fields(string(data)) {
		n, _ := strconv.Atoi(f)
		xs = append(xs, n)
	}
	return xs, nil
}

func Square(x int) int { return x * x }

// Report runs on the pool and uploads what it wrote to S3 once it succeeded.
func Report(xs []int) (string, error) {
	s := 0
	for _, x := range xs {
		s += x
	}
	text := "sum of squares " + strconv.Itoa(s)
	return strings.Repeat(text+"\n", 20000), os.WriteFile(` + "`" + report + "`" + `, []byte(text), 0o644)
}

var load = ct.Electron(Load, ct.Executor("awsbatch"), ct.Files(ct.FileTransfer("s3://team/inputs/numbers.txt", "numbers.txt")))
var square = ct.Electron(Square, ct.Executor("pool"))
var report = ct.Electron(Report, ct.Files(ct.FileTransfer(` + "`" + report + "`" + `, "s3://team/outputs/report.txt", ct.TransferAfter)))

var flow = ct.Lattice(func() ct.Future {
	xs := load()
	var sq []ct.Future
	for i := 0; i < 10; i++ {
		sq = append(sq, square(xs.Index(i)))
	}
	return report(sq)
})
res, err := ct.DispatchSync(flow)
`
	e.cell(workflow)
	res := e.result("res")
	if res.Status != ct.StatusCompleted {
		t.Fatalf("%s: %s %+v", res.Status, res.Error, res.Nodes)
	}
	want := strings.Repeat("sum of squares 385\n", 20000)
	if res.Result != want {
		t.Fatalf("result: %.60q...", res.Result)
	}
	r, err := bucket.Get(ctx, "outputs/report.txt")
	if err != nil {
		t.Fatal(err)
	}
	uploaded, _ := io.ReadAll(r)
	r.Close()
	if string(uploaded) != "sum of squares 385" {
		t.Fatalf("uploaded report %q", uploaded)
	}
	id := e.value("res.DispatchID").(string)

	e.stop()
	if err := os.RemoveAll(dataDir); err != nil {
		t.Fatal(err)
	}
	e.env, e.stop = e.start()
	got, err := e.client().GetResult(id, false)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != ct.StatusCompleted || got.Result != want || len(got.Nodes) != len(res.Nodes) {
		t.Fatalf("after wiping the data directory: %s, %d nodes, result %.40q", got.Status, len(got.Nodes), got.Result)
	}
	for i, n := range got.Nodes {
		if n.Status != ct.StatusCompleted || n.Error != "" || string(n.RawOutput) != string(res.Nodes[i].RawOutput) {
			t.Fatalf("node %d after wiping: %s %q", i, n.Status, n.Error)
		}
	}
	executors := map[string]string{}
	for _, n := range got.Nodes {
		if n.Kind == ct.KindElectron {
			executors[n.Name] = n.Executor
		}
	}
	if executors["Load"] != "awsbatch" || executors["Square"] != "pool" || executors["Report"] != "pool" {
		t.Fatalf("executors: %v", executors)
	}
	if entries, _ := os.ReadDir(filepath.Join(dataDir, "objects")); len(entries) != 0 {
		t.Fatalf("values went to the data directory: %v", entries)
	}

	// The native worker was kept in S3 with the results: the new dispatcher, whose cache went with the data
	// directory, runs the program again without building it.
	e.cell(workflow)
	again := e.result("res")
	if again.Status != ct.StatusCompleted || again.Result != want {
		t.Fatalf("again: %s %s", again.Status, again.Error)
	}
	if notes := strings.Join(again.Notes, "\n"); native() && strings.Contains(notes, "built the native worker") {
		t.Fatalf("the program was built again: %s", notes)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "native", "bin")); native() && err != nil {
		t.Fatalf("the binary did not reach the new cache: %v", err)
	}
}
