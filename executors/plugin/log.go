package plugin

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// hcLogger is go-plugin's logger (hclog) writing to the dispatcher's slog logger: go-plugin's own messages,
// and the plugin's log lines and crash output that it reads from the plugin's stderr.
type hcLogger struct {
	log  *slog.Logger
	name string
	args []any
}

func newHCLogger(log *slog.Logger) hclog.Logger { return &hcLogger{log: log} }

var slogLevels = map[hclog.Level]slog.Level{
	hclog.Trace: slog.LevelDebug - 4,
	hclog.Debug: slog.LevelDebug,
	hclog.Info:  slog.LevelInfo,
	hclog.Warn:  slog.LevelWarn,
	hclog.Error: slog.LevelError,
}

// demoted are go-plugin's warnings about a plugin that did not quit when asked, which are debug here: the
// dispatcher asks after closing the plugin's executor or after the plugin died (and says so itself), so the kill
// that follows loses nothing. (A plugin's reply to "quit" races its exit.)
var demoted = map[string]bool{"error closing client during Kill": true, "plugin failed to exit gracefully": true}

func (l *hcLogger) Log(level hclog.Level, msg string, args ...any) {
	lv, ok := slogLevels[level]
	if !ok {
		lv = slog.LevelInfo
	}
	if demoted[msg] {
		lv = slog.LevelDebug
	}
	if !l.log.Enabled(context.Background(), lv) {
		return
	}
	all := append(append([]any{}, l.args...), args...)
	if l.name != "" {
		all = append(all, "logger", l.name)
	}
	l.log.Log(context.Background(), lv, msg, all...)
}

func (l *hcLogger) Trace(msg string, args ...any) { l.Log(hclog.Trace, msg, args...) }
func (l *hcLogger) Debug(msg string, args ...any) { l.Log(hclog.Debug, msg, args...) }
func (l *hcLogger) Info(msg string, args ...any)  { l.Log(hclog.Info, msg, args...) }
func (l *hcLogger) Warn(msg string, args ...any)  { l.Log(hclog.Warn, msg, args...) }
func (l *hcLogger) Error(msg string, args ...any) { l.Log(hclog.Error, msg, args...) }

func (l *hcLogger) enabled(level hclog.Level) bool {
	return l.log.Enabled(context.Background(), slogLevels[level])
}

func (l *hcLogger) IsTrace() bool { return l.enabled(hclog.Trace) }
func (l *hcLogger) IsDebug() bool { return l.enabled(hclog.Debug) }
func (l *hcLogger) IsInfo() bool  { return l.enabled(hclog.Info) }
func (l *hcLogger) IsWarn() bool  { return l.enabled(hclog.Warn) }
func (l *hcLogger) IsError() bool { return l.enabled(hclog.Error) }

func (l *hcLogger) ImpliedArgs() []any { return l.args }

func (l *hcLogger) With(args ...any) hclog.Logger {
	return &hcLogger{log: l.log, name: l.name, args: append(append([]any{}, l.args...), args...)}
}

func (l *hcLogger) Name() string { return l.name }

func (l *hcLogger) Named(name string) hclog.Logger {
	if l.name != "" {
		name = l.name + "." + name
	}
	return l.ResetNamed(name)
}

func (l *hcLogger) ResetNamed(name string) hclog.Logger {
	return &hcLogger{log: l.log, name: name, args: l.args}
}

// SetLevel does nothing: the slog handler's level decides.
func (l *hcLogger) SetLevel(hclog.Level) {}

// GetLevel is the lowest level the slog handler takes (go-plugin skips parsing lines below it).
func (l *hcLogger) GetLevel() hclog.Level {
	for _, lv := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn} {
		if l.enabled(lv) {
			return lv
		}
	}
	return hclog.Error
}

func (l *hcLogger) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return slog.NewLogLogger(l.log.Handler(), slog.LevelInfo)
}

func (l *hcLogger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	return l.StandardLogger(opts).Writer()
}

// maxLine bounds a logged line of a plugin's output.
const maxLine = 64 << 10

// lineLogger logs what a plugin writes to os.Stdout or os.Stderr, a line at a time.
type lineLogger struct {
	log    *slog.Logger
	stream string

	mu  sync.Mutex
	buf []byte
}

func (w *lineLogger) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 && len(w.buf) < maxLine {
			return len(p), nil
		}
		if i < 0 {
			i = len(w.buf)
		}
		w.log.Info("plugin output", "stream", w.stream, "line", string(w.buf[:i]))
		w.buf = w.buf[min(i+1, len(w.buf)):]
	}
}

// tail keeps what a plugin wrote to stderr last, for the error of a crash: the last max bytes, or, once a Go
// panic or fatal error starts, its first max bytes (the message and the failing goroutine).
type tail struct {
	max int

	mu    sync.Mutex
	buf   []byte
	crash bool
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.crash && (bytes.HasPrefix(p, []byte("panic: ")) || bytes.HasPrefix(p, []byte("fatal error: "))) {
		t.crash, t.buf = true, t.buf[:0]
	}
	if t.crash {
		t.buf = append(t.buf, p[:min(len(p), t.max-len(t.buf))]...)
		return len(p), nil
	}
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.buf))
}
