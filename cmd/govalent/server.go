package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/govalent/govalent/dispatcher"
	"github.com/govalent/govalent/executors/aws/awstask"
	"github.com/govalent/govalent/executors/builtins"
	"github.com/govalent/govalent/executors/process"
	"github.com/govalent/govalent/executors/redisq"
	"github.com/govalent/govalent/executors/slurm"
	"github.com/govalent/govalent/install/service"
)

func pidFile(c config) string { return filepath.Join(c.DataDir, "govalent.pid") }
func logFile(c config) string { return filepath.Join(c.DataDir, "govalent.log") }

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: l}
	if w == os.Stderr && service.StderrIsJournal() { // the journal stamps each line itself
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		}
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func healthy(c config) bool {
	cl := &http.Client{Timeout: time.Second}
	resp, err := cl.Get(c.Dispatcher + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

func cmdStart(args []string) error {
	fs := flag.NewFlagSet("start", flag.ContinueOnError)
	s := newSettings(fs)
	foreground := fs.Bool("foreground", false, "run in this process instead of in the background")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := s.resolve()
	if err != nil {
		return err
	}
	if err := privateDir(c.DataDir); err != nil {
		return err
	}
	if *foreground {
		return serve(c)
	}
	if healthy(c) {
		fmt.Printf("govalent dispatcher already running at %s\n", c.Dispatcher)
	} else if err := daemonize(c, args); err != nil {
		return err
	}
	return printLoginLink(c)
}

// privateDir makes dir, or narrows an existing one of ours, to its owner only: it holds every result and
// program, and the log.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.Chmod(dir, 0o700)
}

func printLoginLink(c config) error {
	link, err := c.client().LoginLink()
	if err != nil {
		return fmt.Errorf("getting a login link for the web UI: %w", err)
	}
	fmt.Printf("web UI (this link logs a browser in once): %s\n", link)
	return nil
}

func cmdLoginLink(args []string) error {
	c, _, err := parseClient("login-link", args, nil)
	if err != nil {
		return err
	}
	return printLoginLink(c)
}

// daemonize starts `govalent start --foreground` detached, logging to the data dir, and waits until it answers.
func daemonize(c config, args []string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(logFile(c), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	if err := logf.Chmod(0o600); err != nil { // a log made by an older version
		return err
	}
	// Secrets go by environment, not on the command line, where every user's ps would show them.
	cmd := exec.Command(exe, append([]string{"start", "--foreground"}, withoutFlag(withoutFlag(withoutFlag(args, "token"), "redis-key"), "redis")...)...)
	cmd.Env = os.Environ()
	for name, v := range map[string]string{"GOVALENT_TOKEN": c.Token, "GOVALENT_REDIS_KEY": c.RedisKey, "GOVALENT_REDIS": c.Redis} {
		if v != "" {
			cmd.Env = append(cmd.Env, name+"="+v)
		}
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if healthy(c) {
			fmt.Printf("govalent dispatcher started at %s (pid %d, data in %s)\n", c.Dispatcher, cmd.Process.Pid, c.DataDir)
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("the dispatcher exited at once (%v); see %s", err, logFile(c))
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("the dispatcher did not answer within 15s; see %s", logFile(c))
}

// withoutFlag drops every form of the flag name (-name v, --name v, -name=v, --name=v) from args, up to "--".
func withoutFlag(args []string, name string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		switch a := strings.TrimLeft(args[i], "-"); {
		case args[i] == "--":
			return append(out, args[i:]...)
		case a != args[i] && a == name:
			i++ // and its value
		case a != args[i] && strings.HasPrefix(a, name+"="):
		default:
			out = append(out, args[i])
		}
	}
	return out
}

// newDispatcher starts the dispatcher these settings describe, in this process: `govalent start` and the
// embedded one of `govalent run --embedded` alike.
func (c config) newDispatcher(log *slog.Logger) (*dispatcher.Dispatcher, error) {
	var key []byte
	if c.Redis != "" {
		var err error
		if key, err = c.redisKey(true); err != nil {
			return nil, err
		}
	}
	execs, err := builtins.New(builtins.Config{Workers: c.Workers, Redis: c.Redis, RedisKey: key, Settings: c.Executors, Logger: log})
	if err != nil {
		return nil, err
	}
	return dispatcher.New(dispatcher.Config{DataDir: c.DataDir, Executors: execs, Token: c.Token, TokenFile: c.TokenFile,
		Logger: log, ObjectStore: c.ObjectStore, Database: c.DB, MaxEventSubscribers: c.MaxEventSubscribers,
		MetricsOpen: c.MetricsOpen, ServiceManager: service.Current(), Native: c.Native})
}

// serve runs the dispatcher in this process until SIGINT or SIGTERM.
func serve(c config) error {
	log := newLogger(os.Stderr, c.LogLevel)
	slog.SetDefault(log)
	ln, err := net.Listen("tcp", net.JoinHostPort(c.Host, strconv.Itoa(c.Port)))
	if err != nil {
		return fmt.Errorf("cannot listen: %w (is a dispatcher already running? see govalent status)", err)
	}
	d, err := c.newDispatcher(log)
	if err != nil {
		ln.Close()
		return err
	}
	if err := os.WriteFile(pidFile(c), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return err
	}
	defer os.Remove(pidFile(c))
	// Event streams keep their requests for as long as they are open, so headers are kept small.
	srv := &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		log.Info("shutting down")
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdownCtx)
	}()
	log.Info("dispatcher listening", "addr", ln.Addr().String(), "ui", "http://"+ln.Addr().String()+"/", "data_dir", c.DataDir, "pid", os.Getpid())
	err = srv.Serve(ln)
	d.Close()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func cmdStop(args []string) error {
	fs := flag.NewFlagSet("stop", flag.ContinueOnError)
	s := newSettings(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := s.resolve()
	if err != nil {
		return err
	}
	if err := underManager(c, "stop it"); err != nil {
		return fmt.Errorf("%w (systemctl [--user] stop govalent)", err)
	}
	data, err := os.ReadFile(pidFile(c))
	if err != nil {
		fmt.Println("govalent dispatcher is not running (no pid file in " + c.DataDir + ")")
		return nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return fmt.Errorf("bad pid file %s", pidFile(c))
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		os.Remove(pidFile(c))
		fmt.Println("govalent dispatcher was not running")
		return nil
	}
	for i := 0; i < 100; i++ {
		if syscall.Kill(pid, 0) != nil {
			fmt.Println("govalent dispatcher stopped")
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	fmt.Println("govalent dispatcher killed after 10s")
	return nil
}

func cmdWorker(args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	s := newSettings(fs)
	pipe := fs.Bool("pipe", false, "serve tasks on fds 3 (in) and 4 (out), as the embedded pool does")
	once := fs.Bool("once", false, "run the one task at --task and exit (what AWS Batch jobs, Lambda functions and Slurm jobs run)")
	task := fs.String("task", "", "with --once: the task file, s3://bucket/.../task.json or (Slurm) DIR/task.json")
	concurrency := fs.Int("concurrency", runtime.NumCPU(), "tasks at once, each in its own process")
	lease := fs.Duration("lease", 3*time.Second, "how long a task stays leased without a heartbeat before another worker takes it")
	var queues stringList
	fs.Var(&queues, "queue", "a queue to serve (repeatable; default: default)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *pipe {
		return process.ServePipe(os.NewFile(3, "tasks"), os.NewFile(4, "replies"))
	}
	if *once {
		if *task == "" {
			return errors.New("usage: govalent worker --once --task s3://bucket/.../task.json | DIR/task.json (a Slurm executor's)")
		}
		if !strings.HasPrefix(*task, "s3://") {
			return slurm.RunFile(*task) // a task in a Slurm executor's shared directory
		}
		return awstask.RunURL(context.Background(), *task)
	}
	c, err := s.resolve()
	if err != nil {
		return err
	}
	if c.Redis == "" {
		return errors.New("usage: govalent worker --redis redis://HOST:6379/0 [--concurrency N] [--queue NAME...]")
	}
	log := newLogger(os.Stderr, c.LogLevel)
	key, err := c.redisKey(false)
	if err != nil {
		return err
	}
	q, err := redisq.Dial(c.Redis, redisq.Options{Lease: *lease, Key: key, Logger: log})
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Native binaries fetched from Redis are kept in the worker's data directory, beside (not in) the cache of a
	// dispatcher's builds on the same machine.
	w := redisq.NewWorker(q, redisq.WorkerConfig{Concurrency: *concurrency, Queues: queues, Command: []string{exe, "worker", "--pipe"},
		BinaryDir: filepath.Join(c.DataDir, "native", "fetched"), Logger: log})
	return w.Run(ctx)
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func cmdLogs(args []string) error {
	fs := flag.NewFlagSet("logs", flag.ContinueOnError)
	s := newSettings(fs)
	follow := fs.Bool("f", false, "keep printing new lines")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := s.resolve()
	if err != nil {
		return err
	}
	f, err := os.Open(logFile(c))
	if err != nil {
		if err := underManager(c, "read the log"); err != nil {
			return fmt.Errorf("%w: journalctl [--user] -u govalent", err)
		}
		return fmt.Errorf("no log yet: %w", err)
	}
	defer f.Close()
	for {
		if _, err := io.Copy(os.Stdout, f); err != nil {
			return err
		}
		if !*follow {
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// startEmbedded runs a dispatcher inside this process on a free loopback port and points the SDK at it.
func startEmbedded(c config, fs *flag.FlagSet) (stop func(), err error) {
	dataDir := ""
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "data-dir" {
			dataDir = c.DataDir
		}
	})
	if dataDir == "" {
		if dataDir, err = os.MkdirTemp("", "govalent-embedded-*"); err != nil {
			return nil, err
		}
	}
	// A token of its own, for this process's SDK only: nothing else needs to reach this dispatcher. Its
	// database is in its own data directory, never a running dispatcher's (db in the settings).
	c.DataDir, c.Token, c.DB = dataDir, rand.Text(), ""
	d, err := c.newDispatcher(newLogger(io.Discard, "error"))
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		d.Close()
		return nil, err
	}
	srv := &http.Server{Handler: d.Handler()}
	go srv.Serve(ln)
	os.Setenv("GOVALENT_DISPATCHER", "http://"+ln.Addr().String())
	os.Setenv("GOVALENT_TOKEN", c.Token)
	return func() {
		srv.Close()
		d.Close()
	}, nil
}
