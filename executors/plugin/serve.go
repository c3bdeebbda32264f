package plugin

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	json "github.com/goccy/go-json"
	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/govalent/govalent/executors"
)

// Config is what the dispatcher tells a plugin's executor when it starts it.
type Config struct {
	// Name is the executor's name in the dispatcher's configuration ([executors.NAME]), which electrons pick
	// it by.
	Name string
	// Settings are the other keys of its [executors.NAME] table, as a JSON object; Decode reads them.
	Settings json.RawMessage
	// Logger writes to the dispatcher's log, at the levels it is given.
	Logger *slog.Logger
}

// Decode decodes the settings into v (a pointer to a struct with json tags), refusing unknown keys, so that a
// misspelt setting is an error at the dispatcher's start rather than silently ignored.
func (c Config) Decode(v any) error { return executors.DecodeSettings(c.Name, c.Settings, v) }

// Serve is a plugin's main: it serves the executor newExecutor makes from the dispatcher's configuration, and
// returns when the dispatcher is done with it. An error from newExecutor is the dispatcher's error at start.
// Run by hand rather than by a dispatcher, the program says it is a plugin and exits.
//
// What the executor writes with Config.Logger, and what the program writes to os.Stdout and os.Stderr, goes
// to the dispatcher's log.
func Serve(newExecutor func(Config) (executors.Executor, error)) {
	// Log lines go to the real stderr as hclog's JSON, which the dispatcher's go-plugin reads at their level;
	// go-plugin points os.Stderr elsewhere once it serves.
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: hclogJSON}))
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         pluginSet(newServer(newExecutor, logger)),
		Logger:          hclog.New(&hclog.LoggerOptions{Output: os.Stderr, JSONFormat: true, Level: hclog.Info}),
	})
}

// hclogJSON names slog's JSON fields as hclog's, which go-plugin parses.
func hclogJSON(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.TimeKey:
		return slog.String("@timestamp", a.Value.Time().Format("2006-01-02T15:04:05.000000Z07:00"))
	case slog.LevelKey:
		return slog.String("@level", strings.ToLower(a.Value.String()))
	case slog.MessageKey:
		return slog.String("@message", a.Value.String())
	}
	return a
}

// server is the plugin's side of the protocol: net/rpc calls its exported methods.
type server struct {
	newExecutor func(Config) (executors.Executor, error)
	log         *slog.Logger

	mu       sync.Mutex
	ready    *sync.Cond // outcomes are waiting, or the executor closed
	ex       executors.Executor
	outcomes []finished
	closed   bool
}

func newServer(newExecutor func(Config) (executors.Executor, error), log *slog.Logger) *server {
	s := &server{newExecutor: newExecutor, log: log}
	s.ready = sync.NewCond(&s.mu)
	return s
}

// maxOutcomes bounds the outcome bytes one Outcomes call returns (one larger outcome goes alone).
const maxOutcomes = 8 << 20

// Start makes the executor.
func (s *server) Start(args startArgs, reply *startReply) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ex != nil {
		return errors.New("the executor was started already")
	}
	ex, err := s.newExecutor(Config{Name: args.Name, Settings: args.Settings, Logger: s.log})
	if err != nil {
		return err
	}
	if ex == nil {
		return errors.New("the plugin made no executor (nil, and no error)")
	}
	s.ex = ex
	if n, ok := ex.(executors.NativeRunner); ok {
		reply.Native, reply.Platforms = true, n.NativePlatforms()
	}
	_, reply.Adopter = ex.(executors.Adopter)
	return nil
}

func (s *server) executor() (executors.Executor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ex == nil {
		return nil, errors.New("the executor was not started")
	}
	return s.ex, nil
}

// Submit hands tasks to the executor, in order. Tasks that do not decode (a dispatcher of another version)
// refuse the batch before any of it runs.
func (s *server) Submit(args submitArgs, _ *struct{}) error {
	ex, err := s.executor()
	if err != nil {
		return err
	}
	tasks := make([]*executors.Task, len(args.Tasks))
	for i, st := range args.Tasks {
		tasks[i] = new(executors.Task)
		if err := json.Unmarshal(st.Task, tasks[i]); err != nil {
			return fmt.Errorf("a task does not decode: %w", err)
		}
		tasks[i].Program = args.Programs[tasks[i].ProgramHash]
	}
	adopter, canAdopt := ex.(executors.Adopter)
	for i, t := range tasks {
		if canAdopt && args.Tasks[i].Adopt {
			adopter.Adopt(t, s.reporter(t.ID))
		} else {
			ex.Submit(t, s.reporter(t.ID))
		}
	}
	return nil
}

// reporter is a task's done: it queues the outcome for Outcomes, once.
func (s *server) reporter(taskID string) func(executors.Outcome) {
	var once sync.Once
	return func(oc executors.Outcome) {
		once.Do(func() {
			raw, err := json.Marshal(oc)
			if err != nil {
				raw, _ = json.Marshal(executors.Outcome{Error: fmt.Sprintf("the outcome does not encode: %v", err), Start: oc.Start, End: oc.End})
			}
			s.mu.Lock()
			s.outcomes = append(s.outcomes, finished{TaskID: taskID, Outcome: raw})
			s.ready.Signal()
			s.mu.Unlock()
		})
	}
}

// Outcomes waits for outcomes and returns those waiting; none once the executor is closed.
func (s *server) Outcomes(_ struct{}, reply *[]finished) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.outcomes) == 0 && !s.closed {
		s.ready.Wait()
	}
	if s.closed {
		return errors.New("the executor is closed")
	}
	n, size := 0, 0
	for ; n < len(s.outcomes) && (n == 0 || size+len(s.outcomes[n].Outcome) <= maxOutcomes); n++ {
		size += len(s.outcomes[n].Outcome)
	}
	*reply = s.outcomes[:n:n]
	s.outcomes = s.outcomes[n:]
	return nil
}

func (s *server) Cancel(taskID string, _ *struct{}) error {
	ex, err := s.executor()
	if err != nil {
		return err
	}
	ex.Cancel(taskID)
	return nil
}

func (s *server) Stats(_ struct{}, reply *executors.Stats) error {
	ex, err := s.executor()
	if err != nil {
		return err
	}
	*reply = ex.Stats()
	return nil
}

// Close closes the executor; the dispatcher then ends the process.
func (s *server) Close(_ struct{}, _ *struct{}) error {
	ex, err := s.executor()
	if err != nil {
		return err
	}
	err = ex.Close()
	s.mu.Lock()
	s.closed = true
	s.ready.Broadcast()
	s.mu.Unlock()
	return err
}
