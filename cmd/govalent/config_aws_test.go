package main

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/govalent/govalent/internal/testkit/s3test"
)

// The object store, the database path and the [executors.NAME] tables come from the config file; the first
// two also from GOVALENT_* variables and flags, with the usual precedence.
func TestConfigObjectStoreAndExecutorTables(t *testing.T) {
	file := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(file, []byte(`object_store = "s3://from-file/p"
db = "/from/file.db"

[executors.awsbatch]
s3 = "s3://team/govalent"
job_queue = "jobs"
vcpu = 2

[executors.awslambda]
function = "govalent-worker"
`), 0o644)
	t.Setenv("GOVALENT_CONFIG", file)
	t.Setenv("GOVALENT_OBJECT_STORE", "s3://from-env/p")
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	s := newSettings(fs)
	if err := fs.Parse([]string{"--db", "/from/flag.db"}); err != nil {
		t.Fatal(err)
	}
	c, err := s.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if c.ObjectStore != "s3://from-env/p" || c.DB != "/from/flag.db" {
		t.Fatalf("object store %q, db %q", c.ObjectStore, c.DB)
	}
	b := c.Executors["awsbatch"]
	if b["s3"] != "s3://team/govalent" || b["job_queue"] != "jobs" || b["vcpu"] != int64(2) || c.Executors["awslambda"]["function"] != "govalent-worker" {
		t.Fatalf("executor tables: %v", c.Executors)
	}
}

// Mistakes in the AWS settings stop the binary with an error that names them.
func TestAWSSettingMistakes(t *testing.T) {
	s3test.Start(t, "team")
	port := strconv.Itoa(freePort(t))
	badTable := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(badTable, []byte("[executors.awsbatch]\ns3 = \"s3://team/tasks\"\nvcpus = 2\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"start", "--foreground", "--port", port, "--data-dir", t.TempDir(), "--object-store", "s3://no-such-bucket/p"}, "the bucket cannot be reached"},
		{[]string{"start", "--foreground", "--port", port, "--data-dir", t.TempDir(), "--object-store", "gs://bucket/p"}, "want s3://bucket/prefix"},
		{[]string{"start", "--foreground", "--port", port, "--data-dir", t.TempDir(), "--config", badTable}, `unknown field "vcpus"`},
		{[]string{"worker", "--once"}, "usage: govalent worker --once --task"},
		{[]string{"worker", "--once", "--task", "s3://team/tasks/x/task.json"}, "object missing"},
	} {
		out, err := govalent(t, nil, c.args...)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("govalent %s: %v, output should contain %q:\n%s", strings.Join(c.args, " "), err, c.want, out)
		}
	}
}
