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
	"github.com/govalent/govalent/executors/redisq"
	"github.com/govalent/govalent/internal/credential"
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
	TokenFile  string `toml:"token_file"` // where the token is kept when none is given; default credential.TokenPath()
	Dispatcher string `toml:"dispatcher"` // address clients use; default http://127.0.0.1:<port>
	LogLevel   string `toml:"log_level"`
	Redis      string `toml:"redis"` // redis://host:port/db: the pool executor is the Redis worker pool
	// RedisKey or the file RedisKeyFile (default <data_dir>/redis.key) authenticates tasks and outcomes on Redis.
	RedisKey     string `toml:"redis_key"`
	RedisKeyFile string `toml:"redis_key_file"`
	// ObjectStore is where values over the inline limit go: "" for the data directory, or s3://bucket/prefix.
	ObjectStore string `toml:"object_store"`
	DB          string `toml:"db"` // the SQLite file; default <data_dir>/govalent.db
	// MaxEventSubscribers caps the open event streams (/api/v1/events); 0 means the dispatcher's default.
	MaxEventSubscribers int  `toml:"max_event_subscribers"`
	MetricsOpen         bool `toml:"metrics_open"` // /metrics answers without the token
	// Native is whether electrons run as compiled Go: auto (when a Go toolchain is found), always or never.
	Native string `toml:"native"`
	// Executors are the [executors.NAME] tables: each executor's settings, which ct.With overrides.
	Executors map[string]map[string]any `toml:"executors"`

	file    string            // the config file read, if any
	sources map[string]string // where each field set came from, by flag name: "flag", "env …" or "file"
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

// field is one setting: its flag (GOVALENT_<FLAG> is its environment variable) and where it goes.
type field struct {
	flag, usage string
	set         func(c *config, v string) error
}

func str(p func(*config) *string) func(*config, string) error {
	return func(c *config, v string) error { *p(c) = v; return nil }
}

func num(p func(*config) *int) func(*config, string) error {
	return func(c *config, v string) (err error) { *p(c), err = strconv.Atoi(v); return err }
}

func boolean(p func(*config) *bool) func(*config, string) error {
	return func(c *config, v string) (err error) { *p(c), err = strconv.ParseBool(v); return err }
}

var fields = []field{
	{"host", "address the dispatcher listens on (default 127.0.0.1)", str(func(c *config) *string { return &c.Host })},
	{"port", "dispatcher port (default 48008)", num(func(c *config) *int { return &c.Port })},
	{"data-dir", "where results are kept (default " + defaultDataDir() + ")", str(func(c *config) *string { return &c.DataDir })},
	{"workers", "worker processes of the embedded pool (default: one per CPU)", num(func(c *config) *int { return &c.Workers })},
	{"token", "API token (default: the one in the token file, made on the dispatcher's first start)", str(func(c *config) *string { return &c.Token })},
	{"token-file", "where the API token is kept (default " + credential.TokenPath() + ")", str(func(c *config) *string { return &c.TokenFile })},
	{"dispatcher", "dispatcher URL for client commands", str(func(c *config) *string { return &c.Dispatcher })},
	{"log-level", "debug, info, warn or error", str(func(c *config) *string { return &c.LogLevel })},
	{"redis", "Redis URL (redis://host:6379/0): run electrons on `govalent worker --redis` processes", str(func(c *config) *string { return &c.Redis })},
	{"redis-key", "the key that authenticates tasks and outcomes on Redis (default: read from --redis-key-file)", str(func(c *config) *string { return &c.RedisKey })},
	{"redis-key-file", "file holding the Redis key, created by the dispatcher if missing (default <data-dir>/redis.key)", str(func(c *config) *string { return &c.RedisKeyFile })},
	{"object-store", "where values over 256 KiB are kept: s3://bucket/prefix (default: the data directory)", str(func(c *config) *string { return &c.ObjectStore })},
	{"db", "the results database file (default <data-dir>/govalent.db)", str(func(c *config) *string { return &c.DB })},
	{"max-event-subscribers", "event streams (/api/v1/events) open at once; more are refused with 503 (default 1000)", num(func(c *config) *int { return &c.MaxEventSubscribers })},
	{"native", "auto, always or never: run electrons as compiled Go, built with the Go toolchain on PATH or GOVALENT_GO (default auto: when one is found)", str(func(c *config) *string { return &c.Native })},
	{"metrics-open", "true: serve /metrics without the token, to a Prometheus on a trusted network (default false)", boolean(func(c *config) *bool { return &c.MetricsOpen })},
}

// tomlKey is the config file's key of a flag.
func tomlKey(flag string) string { return strings.ReplaceAll(flag, "-", "_") }

func envName(flag string) string {
	return "GOVALENT_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// settings registers the shared flags on fs and, after fs.Parse, resolves the configuration.
type settings struct {
	configPath *string
	flagged    map[string]string // flags given on the command line
}

func newSettings(fs *flag.FlagSet) *settings {
	s := &settings{flagged: map[string]string{}}
	s.configPath = fs.String("config", "", "config file (TOML)")
	for _, f := range fields {
		fs.Func(f.flag, f.usage, func(v string) error {
			if err := f.set(&config{}, v); err != nil {
				return err
			}
			s.flagged[f.flag] = v
			return nil
		})
	}
	return s
}

func (s *settings) resolve() (config, error) {
	c := config{Host: "127.0.0.1", Port: 48008, DataDir: defaultDataDir(), LogLevel: "info", sources: map[string]string{}}
	c.file = *s.configPath
	explicit := c.file != ""
	if !explicit {
		c.file = defaultConfigPath()
	}
	if c.file != "" {
		if _, err := os.Stat(c.file); err == nil || explicit {
			md, err := toml.DecodeFile(c.file, &c)
			if err != nil {
				return c, fmt.Errorf("config file %s: %w", c.file, err)
			}
			for _, f := range fields {
				if md.IsDefined(tomlKey(f.flag)) {
					c.sources[f.flag] = "file"
				}
			}
		}
	}
	for _, f := range fields {
		if v := os.Getenv(envName(f.flag)); v != "" {
			if err := f.set(&c, v); err != nil {
				return c, fmt.Errorf("%s: %w", envName(f.flag), err)
			}
			c.sources[f.flag] = "env " + envName(f.flag)
		}
	}
	for _, f := range fields {
		if v, ok := s.flagged[f.flag]; ok {
			f.set(&c, v) // checked when parsed
			c.sources[f.flag] = "flag --" + f.flag
		}
	}
	if c.Dispatcher == "" {
		host := c.Host
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1" // listening everywhere: loopback reaches it
		}
		c.Dispatcher = "http://" + net.JoinHostPort(host, strconv.Itoa(c.Port))
	}
	c.Dispatcher = strings.TrimRight(c.Dispatcher, "/")
	if c.TokenFile == "" {
		c.TokenFile = credential.TokenPath()
	}
	return c, nil
}

func (c config) client() *ct.Client {
	cl := ct.NewClient(c.Dispatcher)
	cl.Token = c.token()
	return cl
}

// token is the credential client commands send: the configured token, else the token file's.
func (c config) token() string {
	if c.Token != "" {
		return c.Token
	}
	t, _ := credential.Read(c.TokenFile)
	return t
}

// redisKey loads the key shared by the dispatcher and its Redis workers; the dispatcher (create) makes one on
// its first start.
func (c config) redisKey(create bool) ([]byte, error) {
	file := c.RedisKeyFile
	if file == "" {
		file = filepath.Join(c.DataDir, redisq.KeyFile)
	}
	return redisq.LoadKey(c.RedisKey, file, create)
}
