package kernelspec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// fakeBinary stands in for the govalent binary (Install checks that it exists).
func fakeBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "govalent")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestInstallPrefix(t *testing.T) {
	prefix, bin := t.TempDir(), fakeBinary(t)
	dir, err := Install(Options{Prefix: prefix, Binary: bin, Env: map[string]string{"GOVALENT_DISPATCHER": "http://127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(prefix, "share", "jupyter", "kernels", "govalent"); dir != want {
		t.Fatalf("dir = %s, want %s", dir, want)
	}

	data, err := os.ReadFile(filepath.Join(dir, "kernel.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatalf("kernel.json: %v\n%s", err, data)
	}
	want := map[string]any{
		"argv":           []any{bin, "kernel", "-f", "{connection_file}"},
		"display_name":   "Go (govalent)",
		"language":       "go",
		"interrupt_mode": "message",
		"env":            map[string]any{"GOVALENT_DISPATCHER": "http://127.0.0.1:1"},
		"metadata":       map[string]any{"debugger": false},
	}
	if got, _ := json.Marshal(spec); !bytes.Equal(got, mustJSON(t, want)) {
		t.Errorf("kernel.json = %s\nwant %s", got, mustJSON(t, want))
	}

	for _, size := range []int{32, 64} {
		f, err := os.Open(filepath.Join(dir, fmt.Sprintf("logo-%dx%d.png", size, size)))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("logo %d: %v", size, err)
		}
		if b := img.Bounds(); b.Dx() != size || b.Dy() != size {
			t.Errorf("logo %d is %v", size, b)
		}
		// Opaque blue in the corner's inside, white in the G, transparent at the very corner.
		if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
			t.Errorf("logo %d: corner not transparent", size)
		}
		if r, g, b, a := img.At(size/2, size/10).RGBA(); a != 0xffff || r != 0 || b < g {
			t.Errorf("logo %d: top is not Go blue: %v %v %v %v", size, r, g, b, a)
		}
	}

	t.Run("jupyter", func(t *testing.T) {
		// JUPYTER_DATA_DIR too, so that a govalent kernel the user installed cannot answer instead.
		checkListed(t, dir, bin, "JUPYTER_PATH="+filepath.Join(prefix, "share", "jupyter"), "JUPYTER_DATA_DIR="+t.TempDir())
	})

	if got, err := Uninstall(Options{Prefix: prefix}); err != nil || got != dir {
		t.Fatalf("Uninstall = %s, %v", got, err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still there: %v", dir, err)
	}
	if _, err := Uninstall(Options{Prefix: prefix}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("second Uninstall: %v", err)
	}
}

func TestInstallReplaces(t *testing.T) {
	prefix := t.TempDir()
	dir, err := Install(Options{Prefix: prefix, Binary: fakeBinary(t)})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "stale.txt"), nil, 0o644)
	bin := fakeBinary(t)
	if _, err := Install(Options{Prefix: prefix, Binary: bin}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "stale.txt")); !os.IsNotExist(err) {
		t.Errorf("old spec not replaced")
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		t.Errorf("kernels/ holds %d entries, want 1 (no temporary dirs left)", len(entries))
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o755 {
		t.Errorf("mode %v", st.Mode())
	}
}

func TestUserDir(t *testing.T) {
	data := t.TempDir()
	t.Setenv("JUPYTER_DATA_DIR", data)
	want := filepath.Join(data, "kernels", "govalent")
	for _, opts := range []Options{{User: true}, {}} {
		opts.Binary = fakeBinary(t)
		dir, err := Install(opts)
		if err != nil || dir != want {
			t.Fatalf("Install(%+v) = %s, %v; want %s", opts, dir, err, want)
		}
		checkListed(t, want, opts.Binary)
		if dir, err := Uninstall(opts); err != nil || dir != want {
			t.Fatalf("Uninstall = %s, %v", dir, err)
		}
	}

	// Without JUPYTER_DATA_DIR: XDG_DATA_HOME, then ~/.local/share, as Jupyter does.
	t.Setenv("JUPYTER_DATA_DIR", "")
	t.Setenv("XDG_DATA_HOME", "/xdg")
	if d, _ := DataDir(Options{User: true}); d != "/xdg/jupyter" {
		t.Errorf("with XDG_DATA_HOME: %s", d)
	}
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("HOME", "/home/someone")
	if d, _ := DataDir(Options{}); d != "/home/someone/.local/share/jupyter" {
		t.Errorf("default: %s", d)
	}
}

func TestOptions(t *testing.T) {
	if _, err := Install(Options{User: true, Prefix: t.TempDir()}); err == nil {
		t.Error("two locations accepted")
	}
	if _, err := Install(Options{Prefix: t.TempDir(), Binary: "/nonexistent/govalent"}); err == nil {
		t.Error("a missing binary accepted")
	}
}

// The sys-prefix location must come from the Python that runs jupyter (here /usr/bin/python3, while the first
// python3 on PATH may be another).
func TestSysPrefix(t *testing.T) {
	jupyter, err := exec.LookPath("jupyter")
	if err != nil {
		t.Skip("no jupyter on PATH")
	}
	got, err := DataDir(Options{SysPrefix: true})
	if err != nil {
		t.Fatal(err)
	}
	// Ask jupyter itself where its environment's data lives.
	out, err := exec.Command(jupyter, "--paths", "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var paths struct {
		Data []string `json:"data"`
	}
	if err := json.Unmarshal(out, &paths); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths.Data {
		if sameDir(p, got) {
			return
		}
	}
	t.Errorf("sys-prefix data dir %s is not among jupyter's data paths %v", got, paths.Data)
}

// checkListed runs `jupyter kernelspec list --json` with env added and checks that it finds the govalent
// kernelspec in dir.
func checkListed(t *testing.T, dir, bin string, env ...string) {
	t.Helper()
	if _, err := os.Stat("/usr/bin/jupyter"); err != nil {
		t.Skip("no /usr/bin/jupyter")
	}
	cmd := exec.Command("/usr/bin/jupyter", "kernelspec", "list", "--json")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("jupyter kernelspec list: %v\n%s", err, out)
	}
	var list struct {
		Kernelspecs map[string]struct {
			ResourceDir string `json:"resource_dir"`
			Spec        struct {
				Argv        []string `json:"argv"`
				DisplayName string   `json:"display_name"`
				Language    string   `json:"language"`
			} `json:"spec"`
		} `json:"kernelspecs"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	ks, ok := list.Kernelspecs["govalent"]
	if !ok {
		t.Fatalf("govalent not listed:\n%s", out)
	}
	if !sameDir(ks.ResourceDir, dir) || ks.Spec.DisplayName != "Go (govalent)" || ks.Spec.Language != "go" || ks.Spec.Argv[0] != bin {
		t.Errorf("listed as %+v", ks)
	}
}

func sameDir(a, b string) bool {
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	if err1 != nil || err2 != nil {
		return filepath.Clean(a) == filepath.Clean(b)
	}
	return ra == rb
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
