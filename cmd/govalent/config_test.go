package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// Settings come from flags, then GOVALENT_* variables, then the config file, then defaults.
func TestConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(file, []byte("port = 1111\nworkers = 3\ntoken = \"from-file\"\nredis = \"redis://file:6379/0\"\nmax_event_subscribers = 7\nmetrics_open = true\n"), 0o644)
	t.Setenv("GOVALENT_CONFIG", file)
	t.Setenv("GOVALENT_PORT", "2222")
	t.Setenv("GOVALENT_TOKEN", "from-env")
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	s := newSettings(fs)
	if err := fs.Parse([]string{"--token", "from-flag"}); err != nil {
		t.Fatal(err)
	}
	c, err := s.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if c.Token != "from-flag" || c.Port != 2222 || c.Workers != 3 || c.Redis != "redis://file:6379/0" || c.Host != "127.0.0.1" || c.MaxEventSubscribers != 7 || !c.MetricsOpen {
		t.Fatalf("%+v", c)
	}
	if c.Dispatcher != "http://127.0.0.1:2222" {
		t.Fatalf("dispatcher %q", c.Dispatcher)
	}
	t.Setenv("GOVALENT_METRICS_OPEN", "false")
	if c, err := s.resolve(); err != nil || c.MetricsOpen {
		t.Fatalf("GOVALENT_METRICS_OPEN=false over the file: %v %v", c.MetricsOpen, err)
	}
	t.Setenv("GOVALENT_WORKERS", "many")
	if _, err := s.resolve(); err == nil {
		t.Fatal("a bad GOVALENT_WORKERS is an error")
	}
	bad := flag.NewFlagSet("bad", flag.ContinueOnError)
	bad.SetOutput(io.Discard)
	newSettings(bad)
	if err := bad.Parse([]string{"--port", "x"}); err == nil {
		t.Fatal("a bad --port is an error")
	}
}
