package ssh

import (
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/executortest"
	"github.com/govalent/govalent/internal/testkit/sshtest"
	"github.com/govalent/govalent/internal/testkit/workerbin"
)

// workerBinary is the govalent binary the executor uploads to the host.
var workerBinary string

func TestMain(m *testing.M) {
	if os.Getenv(killedDispatcherEnv) != "" {
		killedDispatcher()
		return
	}
	workerbin.Main(m, &workerBinary)
}

// settings are an executor's table for server srv, its remote directory in a temporary directory.
func settings(t *testing.T, srv *sshtest.Server) map[string]any {
	return map[string]any{
		"host": srv.Host, "port": srv.Port, "user": srv.User, "key_file": srv.KeyFile, "known_hosts": srv.KnownHosts,
		"remote_dir": t.TempDir(), "govalent_binary": workerBinary, "concurrency": 2,
	}
}

func newExecutor(t *testing.T, table map[string]any) *Executor {
	t.Helper()
	e, err := New("ssh", table, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestConformance(t *testing.T) {
	srv := sshtest.Start(t)
	table := settings(t, srv)
	executortest.Run(t, func(t *testing.T) executors.Executor { return newExecutor(t, table) }, executortest.Options{Capacity: 2})
}
