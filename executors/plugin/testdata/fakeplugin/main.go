// Command fakeplugin is a plugin for the tests of package plugin. Its executor answers at once, with the
// first argument of the task as its output, except for these entries: Hold holds its task until it is
// cancelled; Crash panics, which ends the process; Talk writes to the log, stdout and stderr
// first. With native_platforms set it is an executors.NativeRunner of those platforms, and an executors.Adopter
// whose Adopt answers "adopted"; with panic_at_start it panics instead of making its executor.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/plugin"
)

func main() { plugin.Serve(newExecutor) }

type settings struct {
	NativePlatforms []string `json:"native_platforms"`
	PanicAtStart    bool     `json:"panic_at_start"`
}

func newExecutor(c plugin.Config) (executors.Executor, error) {
	var s settings
	if err := c.Decode(&s); err != nil {
		return nil, err
	}
	if s.PanicAtStart {
		panic("the fake plugin cannot start")
	}
	f := &fake{cfg: c, held: map[string]func(executors.Outcome){}}
	if s.NativePlatforms != nil {
		return &nativeAdopter{f, s.NativePlatforms}, nil
	}
	return f, nil
}

type fake struct {
	cfg  plugin.Config
	mu   sync.Mutex
	held map[string]func(executors.Outcome)
	done int64
}

func (f *fake) Submit(t *executors.Task, done func(executors.Outcome)) {
	start := time.Now()
	switch t.Entry {
	case "Hold":
		f.mu.Lock()
		f.held[t.ID] = done
		f.mu.Unlock()
		return
	case "Crash":
		panic("the fake plugin crashes on purpose") // in net/rpc's goroutine, which does not recover
	case "Talk":
		f.cfg.Logger.Warn("the fake warns", "task", t.ID)
		fmt.Println("the fake says on stdout")
		fmt.Fprintln(os.Stderr, "the fake says on stderr")
	}
	f.report(done, executors.Outcome{Output: first(t), Start: start, End: time.Now()})
}

func (f *fake) report(done func(executors.Outcome), oc executors.Outcome) {
	f.mu.Lock()
	f.done++
	f.mu.Unlock()
	done(oc)
}

func first(t *executors.Task) []byte {
	if len(t.Args) == 0 {
		return []byte("null")
	}
	return t.Args[0]
}

func (f *fake) Cancel(taskID string) {
	f.mu.Lock()
	done := f.held[taskID]
	delete(f.held, taskID)
	f.mu.Unlock()
	if done != nil {
		f.report(done, executors.Outcome{Cancelled: true, Start: time.Now(), End: time.Now()})
	}
}

func (f *fake) Stats() executors.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return executors.Stats{Name: "fake", Workers: 1, Busy: len(f.held), Done: f.done}
}

func (f *fake) Close() error { return nil }

type nativeAdopter struct {
	*fake
	platforms []string
}

func (n *nativeAdopter) NativePlatforms() []string { return n.platforms }

func (n *nativeAdopter) Adopt(t *executors.Task, done func(executors.Outcome)) {
	out, _ := json.Marshal("adopted")
	n.report(done, executors.Outcome{Output: out, Start: time.Now(), End: time.Now()})
}
