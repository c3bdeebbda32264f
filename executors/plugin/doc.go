// Package plugin runs executors that are programs of their own: an executor added without changing or
// rebuilding govalent. The dispatcher starts the program, hands it tasks and takes back their outcomes, through
// hashicorp/go-plugin (the plugin system of Terraform, Vault and Packer).
//
// # Writing a plugin
//
// A plugin is a Go program whose executor implements executors.Executor, the interface every executor
// implements:
//
//   - Submit(t, done) queues task t and returns at once; done is called exactly once with its outcome, from any
//     goroutine. The task's Entry, Args (ct/codec values), Program (the source) and ProgramHash say what to run;
//     executors/process runs it for you (Pool: worker processes; ServePipe: the worker's side; RunOnce: one task
//     in this process). The executor enforces t.TimeLimit (an outcome whose Error says "time limit").
//   - Cancel(id) stops a queued or running task; its done is still called, with Outcome.Cancelled.
//   - Stats() describes its workers and queue; Close() stops everything (outcomes after it are dropped).
//
// It may also implement executors.NativeRunner (it runs electrons from the program's native worker binary,
// Task.Binaries, on the platforms it names) and executors.Adopter (its tasks outlive the dispatcher: after a
// restart, Adopt finds a task of the same node from before); the dispatcher sees the plugin's executor as having
// what it has.
//
// Its main is three lines:
//
//	func main() { plugin.Serve(newExecutor) }
//
//	// newExecutor makes the executor from its [executors.NAME] table.
//	func newExecutor(c plugin.Config) (executors.Executor, error) {
//		var s struct {
//			Workers int `json:"workers"`
//		}
//		if err := c.Decode(&s); err != nil { // a misspelt key is an error
//			return nil, err
//		}
//		return newMyExecutor(c.Name, s.Workers, c.Logger), nil
//	}
//
// Config.Name is the executor's name in the configuration, Config.Settings the keys of its table besides
// "plugin", and Config.Logger writes to the dispatcher's log; what the program writes to os.Stdout and
// os.Stderr goes there too. An error from newExecutor stops the dispatcher's start, with that error. Settings an
// electron sets with ct.With arrive in each Task.Settings: lay them over the table's keys (executors.Settings).
//
// examples/plugin is a complete plugin: a pool of worker processes whose electrons get environment variables and
// a working directory of their own.
//
// # Building and registering
//
// Build the plugin against the govalent module of the dispatcher that runs it (the protocol, ProtocolVersion,
// is checked when it starts: a plugin built for another is refused with both versions named), and name its
// path in the dispatcher's configuration file:
//
//	go build -o /usr/local/lib/govalent/myexec ./cmd/myexec
//
//	# ~/.config/govalent/config.toml
//	[executors.myexec]
//	plugin = "/usr/local/lib/govalent/myexec"   # or a name found on PATH
//	workers = 4                                 # the plugin's own settings
//
// then restart the dispatcher and pick the executor in a notebook with ct.Executor("myexec"). Each
// [executors.NAME] table with a plugin key starts its own plugin process, so one program can serve several
// executors with different settings. Run by hand, a plugin says it is one and exits.
//
// # Testing a plugin
//
// The conformance suite every built-in executor passes runs on a plugin as well:
//
//	func TestConformance(t *testing.T) {
//		executortest.Run(t, func(t *testing.T) executors.Executor {
//			ex, err := plugin.New("myexec", pathOfTheBuiltPlugin, map[string]any{"workers": 2}, nil)
//			if err != nil {
//				t.Fatal(err)
//			}
//			return ex
//		}, executortest.Options{Capacity: 2})
//	}
//
// # When a plugin fails
//
// When the plugin process dies (a panic, os.Exit, a kill), every task it held fails with an error naming the
// plugin, how it ended and the start of its panic (ErrorKind crash, retryable), and a new process is started for
// the next tasks: after 200ms, twice as long after each further failure without an outcome in between, up to
// 30s. A plugin that cannot be started again fails the tasks waiting for it with the reason. The kernel kills
// the plugin if the dispatcher dies.
//
// # The protocol
//
// go-plugin's net/rpc protocol rather than its gRPC one: an executor plugin is Go (it implements a Go
// interface), so gRPC's other languages buy nothing, while net/rpc needs no protobuf definitions, generated code
// or toolchain. Tasks and outcomes travel as JSON, as between the dispatcher and its worker processes, in
// batches; outcomes come back through a call the plugin answers when it has some (a long poll), so the plugin
// never calls the dispatcher. It all runs over go-plugin's yamux connection, whose keepalives notice a peer that
// went away.
package plugin
