package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/govalent/govalent/ct"
)

// config holds the settings every command shares. Each comes from, in order of precedence: a flag, an
// environment variable GOVALENT_<NAME>, the config file (TOML; --config, GOVALENT_CONFIG, or
// $XDG_CONFIG_HOME/govalent/config.toml), then the default.
type config struct {
	Host       string `toml:"host"`
	Port       int    `toml:"port"`
	DataDir    string `toml:"data_dir"`
	Workers    int    `toml:"workers"`
	Token      string `toml:"token"`
	Dispatcher string `toml:"dispatcher"` // address clients use; default http://127.0.0.1:<port>
	LogLevel   string `toml:"log_level"`
	Redis      string `toml:"redis"` // redis://host:port/db: the pool executor is the Redis worker pool
}

func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "govalent")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "govalent")
	}
	return filepath.Join(home, ".local", "share", "govalent")
}

func defaultConfigPath() string {
	if p := os.Getenv("GOVALENT_CONFIG"); p != "" {
		return p
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "govalent", "config.toml")
}

// settings registers the shared flags on fs and, after fs.Parse, resolves the configuration.
type settings struct {
	fs         *flag.FlagSet
	configPath *string
	flags      config
}

func newSettings(fs *flag.FlagSet) *settings {
	s := &settings{fs: fs}
	s.configPath = fs.String("config", "", "config file (TOML)")
	fs.StringVar(&s.flags.Host, "host", "", "address the dispatcher listens on (default 127.0.0.1)")
	fs.IntVar(&s.flags.Port, "port", 0, "dispatcher port (default 48008)")
	fs.StringVar(&s.flags.DataDir, "data-dir", "", "where results are kept (default "+defaultDataDir()+")")
	fs.IntVar(&s.flags.Workers, "workers", 0, "worker processes of the embedded pool (default: one per CPU)")
	fs.StringVar(&s.flags.Token, "token", "", "API token (required when listening beyond loopback)")
	fs.StringVar(&s.flags.Dispatcher, "dispatcher", "", "dispatcher URL for client commands")
	fs.StringVar(&s.flags.LogLevel, "log-level", "", "debug, info, warn or error")
	fs.StringVar(&s.flags.Redis, "redis", "", "Redis URL (redis://host:6379/0): run electrons on `govalent worker --redis` processes")
	return s
}

func (s *settings) resolve() (config, error) {
	c := config{Host: "127.0.0.1", Port: 48008, DataDir: defaultDataDir(), LogLevel: "info"}
	path := *s.configPath
	explicit := path != ""
	if !explicit {
		path = defaultConfigPath()
	}
	if path != "" {
		if _, err := os.Stat(path); err == nil || explicit {
			if _, err := toml.DecodeFile(path, &c); err != nil {
				return c, fmt.Errorf("config file %s: %w", path, err)
			}
		}
	}
	env := func(name string, set func(string) error) error {
		if v := os.Getenv("GOVALENT_" + name); v != "" {
			if err := set(v); err != nil {
				return fmt.Errorf("GOVALENT_%s: %w", name, err)
			}
		}
		return nil
	}
	str := func(p *string) func(string) error { return func(v string) error { *p = v; return nil } }
	num := func(p *int) func(string) error {
		return func(v string) (err error) { *p, err = strconv.Atoi(v); return err }
	}
	for _, e := range []error{
		env("HOST", str(&c.Host)), env("PORT", num(&c.Port)), env("DATA_DIR", str(&c.DataDir)),
		env("WORKERS", num(&c.Workers)), env("TOKEN", str(&c.Token)), env("DISPATCHER", str(&c.Dispatcher)),
		env("LOG_LEVEL", str(&c.LogLevel)), env("REDIS", str(&c.Redis)),
	} {
		if e != nil {
			return c, e
		}
	}
	s.fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "host":
			c.Host = s.flags.Host
		case "port":
			c.Port = s.flags.Port
		case "data-dir":
			c.DataDir = s.flags.DataDir
		case "workers":
			c.Workers = s.flags.Workers
		case "token":
			c.Token = s.flags.Token
		case "dispatcher":
			c.Dispatcher = s.flags.Dispatcher
		case "log-level":
			c.LogLevel = s.flags.LogLevel
		case "redis":
			c.Redis = s.flags.Redis
		}
	})
	if c.Dispatcher == "" {
		host := c.Host
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1" // listening everywhere: loopback reaches it
		}
		c.Dispatcher = "http://" + net.JoinHostPort(host, strconv.Itoa(c.Port))
	}
	c.Dispatcher = strings.TrimRight(c.Dispatcher, "/")
	return c, nil
}

func (c config) client() *ct.Client {
	cl := ct.NewClient(c.Dispatcher)
	if c.Token != "" {
		cl.Token = c.Token
	}
	return cl
}
