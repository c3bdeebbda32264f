// Package service writes the files that run govalent under the system's service manager: systemd units on
// Linux (the dispatcher's govalent.service and the workers' template govalent-worker@.service, whose instance
// is the queue served) and launchd property lists on macOS. It writes files and says which commands start
// them; it never runs systemctl or launchctl itself, so it works as well into a package's staging root.
//
// A user service keeps the defaults of a govalent started by hand (data in ~/.local/share/govalent, the token
// in ~/.config/govalent/token, settings in ~/.config/govalent/config.toml), so the user's CLI, kernel and SDK
// find it without configuration. A system service runs as a systemd dynamic user (or --run-as an existing
// account), with its settings in /etc/govalent/config.toml and its data and token in /var/lib/govalent; it
// logs to the journal, as every systemd service does.
package service

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"text/template"
)

// Manager names a service manager.
type Manager string

const (
	Systemd Manager = "systemd"
	Launchd Manager = "launchd"
)

// Native is the service manager of this operating system.
func Native() Manager {
	if runtime.GOOS == "darwin" {
		return Launchd
	}
	return Systemd
}

// Unit and label names.
const (
	DispatcherUnit = "govalent.service"
	WorkerUnit     = "govalent-worker@.service"
	labelPrefix    = "io.github.govalent."
)

// Options says what to install and where.
type Options struct {
	Manager Manager // "" for Native()
	System  bool    // a system-wide service instead of the user's
	Worker  bool    // the workers' service instead of the dispatcher's
	Binary  string  // absolute path of the govalent executable the service runs
	// Redis is the workers' Redis URL. It goes in a file only its owner reads (it may hold a password), not in
	// the unit, which every user can read.
	Redis string
	// RunAs is the account a system service runs as; "" means a systemd dynamic user. launchd has no such
	// thing, so a launchd system service needs one: running workflows as root is not an option.
	RunAs string
	Queue string // launchd workers: the queue served (systemd's template takes it as its instance); default "default"
	Root  string // write under this directory instead of / (tests, package builds)
	Home  string // the user's home; "" for $HOME
}

// File is one file an install writes.
type File struct {
	Path    string // absolute, under Options.Root
	Mode    fs.FileMode
	Content []byte
}

func (o Options) manager() Manager {
	if o.Manager == "" {
		return Native()
	}
	return o.Manager
}

func (o Options) queue() string {
	if o.Queue == "" {
		return "default"
	}
	return o.Queue
}

func (o Options) home() (string, error) {
	if o.Home != "" {
		return o.Home, nil
	}
	return os.UserHomeDir()
}

// userConfigDir is $XDG_CONFIG_HOME, else ~/.config: where systemd's user manager looks for units.
func (o Options) userConfigDir() (string, error) {
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" && o.Home == "" {
		return d, nil
	}
	home, err := o.home()
	return filepath.Join(home, ".config"), err
}

// dirs are where the units (or plists) and the workers' environment file go, before Root.
func (o Options) dirs() (units, env string, err error) {
	switch {
	case o.manager() == Systemd && o.System:
		return "/etc/systemd/system", "/etc/govalent", nil
	case o.manager() == Systemd:
		cfg, err := o.userConfigDir()
		return filepath.Join(cfg, "systemd", "user"), filepath.Join(cfg, "govalent"), err
	case o.manager() == Launchd && o.System:
		return "/Library/LaunchDaemons", "", nil
	case o.manager() == Launchd:
		home, err := o.home()
		return filepath.Join(home, "Library", "LaunchAgents"), "", err
	}
	return "", "", fmt.Errorf("unknown service manager %q", o.Manager)
}

func (o Options) under(path string) string { return filepath.Join(o.Root, path) }

func (o Options) check() error {
	if !filepath.IsAbs(o.Binary) {
		return fmt.Errorf("the service needs the absolute path of govalent, not %q", o.Binary)
	}
	if o.Worker && o.Redis == "" {
		return errors.New("workers need the Redis URL of their dispatcher (--redis redis://HOST:6379/0)")
	}
	if !o.Worker && o.Redis != "" {
		return errors.New("--redis is for workers (--worker); the dispatcher's goes in its config file")
	}
	if o.RunAs != "" && !o.System {
		return errors.New("--run-as is for system services; a user service runs as its user")
	}
	if o.manager() == Launchd && o.System && o.RunAs == "" {
		return errors.New("a launchd system service needs --run-as USER: it would run workflows as root otherwise")
	}
	if strings.ContainsAny(o.RunAs+o.Queue, " \t\n\"'\\%$/") {
		return errors.New("--run-as and the queue name are plain names")
	}
	if strings.ContainsAny(o.Redis, "\n\r") {
		return errors.New("the Redis URL is one line")
	}
	return nil
}

// Files returns what Install writes.
func Files(o Options) ([]File, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	units, envDir, err := o.dirs()
	if err != nil {
		return nil, err
	}
	if o.manager() == Launchd {
		return o.plist(units)
	}
	data := map[string]any{"Exec": systemdExec(o.Binary), "System": o.System, "RunAs": o.RunAs}
	if !o.Worker {
		b, err := render(dispatcherUnit, data)
		return []File{{o.under(filepath.Join(units, DispatcherUnit)), 0o644, b}}, err
	}
	b, err := render(workerUnit, data)
	if err != nil {
		return nil, err
	}
	env := "# The Redis URL of govalent's workers (govalent-worker@.service); readable by its owner only.\n" +
		"GOVALENT_REDIS=" + systemdEnvQuote(o.Redis) + "\n"
	return []File{
		{o.under(filepath.Join(units, WorkerUnit)), 0o644, b},
		{o.under(filepath.Join(envDir, "worker.env")), 0o600, []byte(env)},
	}, nil
}

func (o Options) plist(dir string) ([]File, error) {
	label, args := labelPrefix+"dispatcher", []string{o.Binary, "start", "--foreground"}
	env := map[string]string{}
	if o.Worker {
		label = labelPrefix + "worker." + o.queue()
		args = []string{o.Binary, "worker", "--queue", o.queue()}
		env["GOVALENT_REDIS"] = o.Redis
	}
	env["GOVALENT_SERVICE"] = label
	logDir := "/Library/Logs"
	if !o.System {
		home, err := o.home()
		if err != nil {
			return nil, err
		}
		logDir = filepath.Join(home, "Library", "Logs")
	}
	b, err := render(launchdPlist, map[string]any{"Label": label, "Args": args, "Env": env, "RunAs": o.RunAs,
		"Log": filepath.Join(logDir, "govalent."+strings.TrimPrefix(label, labelPrefix)+".log")})
	// 0600: a worker's plist holds the Redis URL, which may hold a password.
	return []File{{o.under(filepath.Join(dir, label+".plist")), 0o600, b}}, err
}

// Install writes the files and returns them.
func Install(o Options) ([]File, error) {
	files, err := Files(o)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(f.Path, f.Content, f.Mode); err != nil {
			return nil, err
		}
		if err := os.Chmod(f.Path, f.Mode); err != nil { // an older file kept its mode
			return nil, err
		}
	}
	return files, nil
}

// Uninstall removes every file an install of o's kind (user or system; dispatcher and workers alike) may have
// written, with the links `systemctl enable` made to them, and returns the paths it removed.
func Uninstall(o Options) ([]string, error) {
	units, envDir, err := o.dirs()
	if err != nil {
		return nil, err
	}
	var paths []string
	if o.manager() == Launchd {
		workers, _ := filepath.Glob(o.under(filepath.Join(units, labelPrefix+"worker.*.plist")))
		paths = append(workers, o.under(filepath.Join(units, labelPrefix+"dispatcher.plist")))
	} else {
		paths = []string{o.under(filepath.Join(units, DispatcherUnit)), o.under(filepath.Join(units, WorkerUnit)),
			o.under(filepath.Join(envDir, "worker.env"))}
		links, _ := filepath.Glob(o.under(filepath.Join(units, "*.wants", "govalent*.service")))
		paths = append(paths, links...)
	}
	var removed []string
	for _, p := range paths {
		err := os.Remove(p)
		if err == nil {
			removed = append(removed, p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return removed, err
		}
	}
	return removed, nil
}

// Command is a command line to run.
type Command []string

func (c Command) String() string {
	q := make([]string, len(c))
	for i, w := range c {
		q[i] = shellQuote(w)
	}
	return strings.Join(q, " ")
}

// StartCommands are the commands that load and start what Install wrote.
func StartCommands(o Options, files []File) []Command {
	if o.manager() == Launchd {
		return []Command{{"launchctl", "bootstrap", launchdDomain(o), files[0].Path}}
	}
	unit := DispatcherUnit
	if o.Worker {
		unit = "govalent-worker@" + o.queue() + ".service" // one instance per queue; enable more with other names
	}
	return []Command{systemctl(o, "daemon-reload"), systemctl(o, "enable", "--now", unit)}
}

// StopCommands stop what an install of o's kind started; they come before Uninstall, which removes the links
// that enabled them.
func StopCommands(o Options) []Command {
	if o.manager() == Launchd {
		return []Command{{"launchctl", "bootout", launchdDomain(o) + "/" + labelPrefix + "dispatcher"}}
	}
	return []Command{systemctl(o, "stop", DispatcherUnit, "govalent-worker@*.service")}
}

// ReloadCommands make the manager forget what Uninstall removed.
func ReloadCommands(o Options) []Command {
	if o.manager() == Launchd {
		return nil
	}
	return []Command{systemctl(o, "daemon-reload")}
}

func systemctl(o Options, args ...string) Command {
	if o.System {
		return append(Command{"systemctl"}, args...)
	}
	return append(Command{"systemctl", "--user"}, args...)
}

func launchdDomain(o Options) string {
	if o.System {
		return "system"
	}
	return "gui/" + strconv.Itoa(os.Getuid())
}

// ManagerRunning reports whether the service manager that would run o's services is up, so that the commands
// can be run rather than only shown: a systemd booted system (/run/systemd/system) and, for a user service,
// the user's manager (its private socket in $XDG_RUNTIME_DIR). Never for a Root: those files are not live.
func ManagerRunning(o Options) bool {
	if o.Root != "" || o.manager() != Systemd {
		return false
	}
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		return false
	}
	if o.System {
		return true
	}
	rt := os.Getenv("XDG_RUNTIME_DIR")
	_, err := os.Stat(filepath.Join(rt, "systemd", "private"))
	return rt != "" && err == nil
}

// Current says which service manager runs this process, as "systemd (unit govalent.service)", or "" when none
// does. systemd sets INVOCATION_ID for every service; the units set GOVALENT_SERVICE to their name (%n), and a
// unit of the user's own making is found in this process's cgroup. The plists set GOVALENT_SERVICE to their
// label.
func Current() string {
	name := os.Getenv("GOVALENT_SERVICE")
	if os.Getenv("INVOCATION_ID") != "" {
		// Every process of a terminal that systemd started inherits INVOCATION_ID: only a govalent unit (ours
		// set GOVALENT_SERVICE) counts as running govalent.
		if name == "" {
			if unit := unitFromCgroup(); strings.HasPrefix(unit, "govalent") {
				name = unit
			}
		}
		if name != "" {
			return "systemd (unit " + name + ")"
		}
	}
	if name != "" && runtime.GOOS == "darwin" {
		return "launchd (job " + name + ")"
	}
	return ""
}

func unitFromCgroup() string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "0::") { // the unified hierarchy: 0::/…/govalent.service
			if base := filepath.Base(line[3:]); strings.HasSuffix(base, ".service") {
				return base
			}
		}
	}
	return ""
}

// StderrIsJournal reports whether this process's stderr is systemd's journal (JOURNAL_STREAM names its device
// and inode), which stamps each line with the time itself.
func StderrIsJournal() bool {
	dev, ino, ok := strings.Cut(os.Getenv("JOURNAL_STREAM"), ":")
	if !ok {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(2, &st); err != nil {
		return false
	}
	return dev == strconv.FormatUint(uint64(st.Dev), 10) && ino == strconv.FormatUint(uint64(st.Ino), 10)
}

func render(t *template.Template, data any) ([]byte, error) {
	var b bytes.Buffer
	err := t.Execute(&b, data)
	return b.Bytes(), err
}

// systemdExec makes the command of an ExecStart= line: specifiers (%) stay literal. systemd expands no
// variables in the command itself, so a $ stays as it is.
func systemdExec(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	if !strings.ContainsAny(s, " \t\"'\\;") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// systemdEnvQuote makes a value of an EnvironmentFile= line, which unquotes and unescapes like a shell.
func systemdEnvQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func shellQuote(s string) string {
	if !strings.ContainsAny(s, " \t\"'\\$`;&|<>()*?") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
