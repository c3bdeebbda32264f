package service

import (
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// binary is an executable at a path that needs quoting and escaping in a unit (a space, a % and a $), as
// systemd-analyze verify checks that ExecStart's command exists.
func binary(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "my bin%d$HOME")
	os.Mkdir(dir, 0o755)
	bin := filepath.Join(dir, "govalent")
	if err := os.Symlink(self, bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// verify runs systemd-analyze verify on units, as the user's manager would load them unless system, and fails
// on any complaint: a warning is as wrong as an error in a unit we write.
func verify(t *testing.T, system bool, units ...string) {
	t.Helper()
	args := []string{"verify", "--man=no"}
	if !system {
		args = append([]string{"--user"}, args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "systemd-analyze", append(args, units...)...)
	rt := t.TempDir() // the user manager's runtime directory, which verify wants even though no manager runs
	os.Chmod(rt, 0o700)
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+rt, "SYSTEMD_LOG_LEVEL=notice")
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func install(t *testing.T, o Options) []File {
	t.Helper()
	files, err := Install(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		st, err := os.Stat(f.Path)
		if err != nil || st.Mode().Perm() != f.Mode {
			t.Fatalf("%s: %v, mode %v, want %v", f.Path, err, st.Mode(), f.Mode)
		}
	}
	return files
}

func has(t *testing.T, f File, lines ...string) {
	t.Helper()
	got := strings.Split(string(f.Content), "\n")
	for _, l := range lines {
		if !slices.Contains(got, l) {
			t.Errorf("%s lacks the line %q:\n%s", f.Path, l, f.Content)
		}
	}
}

func TestSystemdUnitsVerify(t *testing.T) {
	bin := binary(t)
	execStart := `ExecStart="` + strings.ReplaceAll(bin, "%", "%%")
	root := t.TempDir()
	home := filepath.Join(root, "home", "ann")

	user := install(t, Options{Manager: Systemd, Binary: bin, Root: root, Home: home})
	if want := filepath.Join(root, home, ".config/systemd/user/govalent.service"); len(user) != 1 || user[0].Path != want {
		t.Fatalf("user unit %+v, want %s", user, want)
	}
	has(t, user[0], execStart+`" start --foreground`, "Environment=GOVALENT_SERVICE=%n", "WantedBy=default.target")
	if strings.Contains(string(user[0].Content), "DynamicUser") || strings.Contains(string(user[0].Content), "StateDirectory") {
		t.Errorf("a user unit keeps the user's own account and directories:\n%s", user[0].Content)
	}
	userWorker := install(t, Options{Manager: Systemd, Binary: bin, Root: root, Home: home, Worker: true, Redis: "redis://:pa'ss@h:6379/0"})
	has(t, userWorker[0], execStart+`" worker --queue %i`, "EnvironmentFile=%E/govalent/worker.env")
	if userWorker[1].Path != filepath.Join(root, home, ".config/govalent/worker.env") || userWorker[1].Mode != 0o600 {
		t.Fatalf("worker env file %s %v", userWorker[1].Path, userWorker[1].Mode)
	}
	has(t, userWorker[1], `GOVALENT_REDIS='redis://:pa'\''ss@h:6379/0'`)
	verify(t, false, user[0].Path, userWorker[0].Path)

	system := install(t, Options{Manager: Systemd, System: true, Binary: bin, Root: root})
	if want := filepath.Join(root, "/etc/systemd/system/govalent.service"); system[0].Path != want {
		t.Fatalf("system unit at %s, want %s", system[0].Path, want)
	}
	has(t, system[0], "DynamicUser=yes", "StateDirectory=govalent", "StateDirectoryMode=0700",
		"Environment=GOVALENT_TOKEN_FILE=%S/govalent/token", "Environment=GOVALENT_CONFIG=%E/govalent/config.toml",
		"WantedBy=multi-user.target")
	systemWorker := install(t, Options{Manager: Systemd, System: true, Binary: bin, Root: root, Worker: true, Redis: "redis://h:6379/0", RunAs: "gvrunner"})
	has(t, systemWorker[0], "User=gvrunner", "LoadCredential=redis.key:%E/govalent/redis.key", "Environment=GOVALENT_REDIS_KEY_FILE=%d/redis.key")
	if systemWorker[1].Path != filepath.Join(root, "/etc/govalent/worker.env") {
		t.Fatalf("system worker env file at %s", systemWorker[1].Path)
	}
	verify(t, true, system[0].Path, systemWorker[0].Path)

	// The same check catches a broken unit: the test binary gone.
	os.Remove(bin)
	cmd := exec.Command("systemd-analyze", "verify", "--man=no", system[0].Path)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "not executable") {
		t.Fatalf("verify of a unit without its binary: %v\n%s", err, out)
	}
}

// plistValue decodes one value of a property list into Go: string, bool, []any or map[string]any.
func plistValue(d *xml.Decoder, start xml.StartElement) (any, error) {
	switch start.Name.Local {
	case "string", "key":
		var s string
		err := d.DecodeElement(&s, &start)
		return s, err
	case "true", "false":
		return start.Name.Local == "true", d.Skip()
	case "array", "dict":
		var items []any
		for {
			tok, err := d.Token()
			if err != nil {
				return nil, err
			}
			switch tok := tok.(type) {
			case xml.StartElement:
				v, err := plistValue(d, tok)
				if err != nil {
					return nil, err
				}
				items = append(items, v)
			case xml.EndElement:
				if start.Name.Local == "array" {
					return items, nil
				}
				m := map[string]any{}
				for i := 0; i+1 < len(items); i += 2 {
					m[items[i].(string)] = items[i+1]
				}
				return m, nil
			}
		}
	}
	return nil, fmt.Errorf("unexpected <%s>", start.Name.Local)
}

func parsePlist(t *testing.T, path string) map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := xml.NewDecoder(f)
	for {
		tok, err := d.Token()
		if err != nil {
			t.Fatalf("%s: no <plist><dict>: %v", path, err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "dict" {
			v, err := plistValue(d, se)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			return v.(map[string]any)
		}
	}
}

func TestLaunchdPlists(t *testing.T) {
	root, home := t.TempDir(), "/Users/ann"
	bin := "/opt/go valent/<bin>&/govalent"
	files := install(t, Options{Manager: Launchd, Binary: bin, Root: root, Home: home})
	if want := filepath.Join(root, home, "Library/LaunchAgents/io.github.govalent.dispatcher.plist"); files[0].Path != want {
		t.Fatalf("plist at %s, want %s", files[0].Path, want)
	}
	p := parsePlist(t, files[0].Path)
	if p["Label"] != "io.github.govalent.dispatcher" || !slices.Equal(p["ProgramArguments"].([]any), []any{bin, "start", "--foreground"}) ||
		p["RunAtLoad"] != true || p["StandardErrorPath"] != "/Users/ann/Library/Logs/govalent.dispatcher.log" ||
		p["EnvironmentVariables"].(map[string]any)["GOVALENT_SERVICE"] != "io.github.govalent.dispatcher" {
		t.Fatalf("dispatcher plist: %#v", p)
	}
	if _, ok := p["UserName"]; ok {
		t.Fatalf("a user agent names no user: %#v", p)
	}
	files = install(t, Options{Manager: Launchd, System: true, RunAs: "_gv", Binary: bin, Root: root, Worker: true, Queue: "gpu", Redis: "redis://:a&b@h:6379/0"})
	p = parsePlist(t, files[0].Path)
	if files[0].Path != filepath.Join(root, "/Library/LaunchDaemons/io.github.govalent.worker.gpu.plist") || files[0].Mode != 0o600 ||
		p["UserName"] != "_gv" || !slices.Equal(p["ProgramArguments"].([]any), []any{bin, "worker", "--queue", "gpu"}) ||
		p["EnvironmentVariables"].(map[string]any)["GOVALENT_REDIS"] != "redis://:a&b@h:6379/0" ||
		p["KeepAlive"].(map[string]any)["SuccessfulExit"] != false {
		t.Fatalf("worker daemon plist at %s: %#v", files[0].Path, p)
	}
	removed, err := Uninstall(Options{Manager: Launchd, System: true, Root: root})
	if err != nil || len(removed) != 1 || removed[0] != files[0].Path {
		t.Fatalf("uninstall removed %v: %v", removed, err)
	}
	if _, err := Install(Options{Manager: Launchd, System: true, Binary: bin, Root: root}); err == nil || !strings.Contains(err.Error(), "--run-as") {
		t.Fatalf("a launchd daemon without an account: %v", err)
	}
}

// Uninstall removes the units, the workers' environment file and the links `systemctl enable` made, and
// nothing else.
func TestUninstall(t *testing.T) {
	root, bin := t.TempDir(), "/usr/bin/govalent"
	o := Options{Manager: Systemd, System: true, Binary: bin, Root: root}
	install(t, o)
	w := o
	w.Worker, w.Redis = true, "redis://h:6379/0"
	install(t, w)
	units := filepath.Join(root, "/etc/systemd/system")
	wants := filepath.Join(units, "multi-user.target.wants")
	os.MkdirAll(wants, 0o755)
	for _, l := range []string{"govalent.service", "govalent-worker@default.service", "govalent-worker@gpu.service"} {
		target := "govalent-worker@.service"
		if l == "govalent.service" {
			target = l
		}
		os.Symlink(filepath.Join("/etc/systemd/system", target), filepath.Join(wants, l))
	}
	other := filepath.Join(wants, "ssh.service")
	os.WriteFile(other, nil, 0o644)
	removed, err := Uninstall(o)
	if err != nil || len(removed) != 6 {
		t.Fatalf("removed %v: %v", removed, err)
	}
	left, _ := filepath.Glob(filepath.Join(units, "*", "*"))
	if _, err := os.Stat(filepath.Join(root, "/etc/govalent/worker.env")); err == nil || !slices.Equal(left, []string{other}) {
		t.Fatalf("left behind: %v (env file: %v)", left, err)
	}
	if removed, err := Uninstall(o); err != nil || len(removed) != 0 {
		t.Fatalf("a second uninstall removed %v: %v", removed, err)
	}
}

func TestOptionsRefused(t *testing.T) {
	for _, o := range []Options{
		{Binary: "govalent"},
		{Binary: "/bin/govalent", Worker: true},
		{Binary: "/bin/govalent", Redis: "redis://h"},
		{Binary: "/bin/govalent", RunAs: "ann"},
		{Binary: "/bin/govalent", System: true, RunAs: "a b"},
		{Binary: "/bin/govalent", Worker: true, Redis: "redis://h\nGOVALENT_TOKEN=x"},
	} {
		o.Root = t.TempDir()
		if _, err := Install(o); err == nil {
			t.Errorf("%+v was accepted", o)
		}
	}
}

func TestStartCommands(t *testing.T) {
	o := Options{Manager: Systemd, Binary: "/bin/govalent"}
	if got := fmt.Sprint(StartCommands(o, nil)); got != "[systemctl --user daemon-reload systemctl --user enable --now govalent.service]" {
		t.Fatalf("user: %q", got)
	}
	o.System, o.Worker, o.Queue = true, true, "gpu"
	if got := fmt.Sprint(StopCommands(o), StartCommands(o, nil)); got != "[systemctl stop govalent.service 'govalent-worker@*.service'] [systemctl daemon-reload systemctl enable --now govalent-worker@gpu.service]" {
		t.Fatalf("system worker: %q", got)
	}
	if ManagerRunning(Options{Root: "/tmp"}) {
		t.Fatal("a root's units are never live")
	}
}

func TestCurrent(t *testing.T) {
	t.Setenv("INVOCATION_ID", "")
	t.Setenv("GOVALENT_SERVICE", "")
	if c := Current(); c != "" {
		t.Fatalf("outside any manager: %q", c)
	}
	t.Setenv("INVOCATION_ID", "0123")
	t.Setenv("GOVALENT_SERVICE", "govalent.service")
	if c := Current(); c != "systemd (unit govalent.service)" {
		t.Fatalf("under systemd: %q", c)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(2, &st); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino))
	if !StderrIsJournal() {
		t.Fatal("JOURNAL_STREAM names stderr")
	}
	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino+1))
	if StderrIsJournal() {
		t.Fatal("JOURNAL_STREAM names another file: stderr was redirected")
	}
}
