// Package kernelspec installs and removes the Jupyter kernelspec that makes `govalent kernel` a notebook kernel.
//
// A kernelspec is a directory <data dir>/kernels/govalent/ holding kernel.json and logos; Jupyter finds it by
// searching its data directories, so installing is writing files where Jupyter looks (the same places as
// `jupyter kernelspec install --user | --sys-prefix | --prefix`), and needs no Python.
package kernelspec

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Name is the kernelspec's name: the directory name, and what `jupyter kernelspec list` shows.
const Name = "govalent"

// DisplayName is the kernel's name in notebook launchers and kernel pickers.
const DisplayName = "Go (govalent)"

// Options choose where the kernelspec goes and what it runs. At most one of User, SysPrefix and Prefix may be
// set; none means User.
type Options struct {
	User      bool              // the user's data dir: $JUPYTER_DATA_DIR, else $XDG_DATA_HOME/jupyter or ~/.local/share/jupyter
	SysPrefix bool              // <sys.prefix of the Python that runs `jupyter`>/share/jupyter
	Prefix    string            // <Prefix>/share/jupyter
	Binary    string            // the govalent binary; default os.Executable()
	Env       map[string]string // environment for the kernel process (kernel.json "env")
}

// Spec is kernel.json.
type Spec struct {
	Argv          []string          `json:"argv"`
	DisplayName   string            `json:"display_name"`
	Language      string            `json:"language"`
	InterruptMode string            `json:"interrupt_mode"`
	Env           map[string]string `json:"env,omitempty"`
	Metadata      map[string]any    `json:"metadata"`
}

// DataDir is the Jupyter data directory opts select.
func DataDir(opts Options) (string, error) {
	n := 0
	for _, set := range []bool{opts.User, opts.SysPrefix, opts.Prefix != ""} {
		if set {
			n++
		}
	}
	switch {
	case n > 1:
		return "", errors.New("kernelspec: choose one of --user, --sys-prefix and --prefix")
	case opts.Prefix != "":
		p, err := filepath.Abs(opts.Prefix)
		return filepath.Join(p, "share", "jupyter"), err
	case opts.SysPrefix:
		p, err := sysPrefix()
		if err != nil {
			return "", err
		}
		return filepath.Join(p, "share", "jupyter"), nil
	}
	// As jupyter_core's jupyter_data_dir does on Linux and other Unixes.
	if d := os.Getenv("JUPYTER_DATA_DIR"); d != "" {
		return filepath.Abs(d)
	}
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "jupyter"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("kernelspec: %w", err)
	}
	return filepath.Join(home, ".local", "share", "jupyter"), nil
}

// Dir is the kernelspec directory opts select.
func Dir(opts Options) (string, error) {
	d, err := DataDir(opts)
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "kernels", Name), nil
}

// sysPrefix asks the Python that runs `jupyter` for sys.prefix. That Python is the one named by the jupyter
// script's #! line: the first python3 on PATH is often another one (pyenv, a venv without Jupyter).
func sysPrefix() (string, error) {
	py, err := jupyterPython()
	if err != nil {
		return "", err
	}
	out, err := exec.Command(py, "-c", "import sys; print(sys.prefix)").Output()
	if err != nil {
		return "", fmt.Errorf("kernelspec: %s: finding sys.prefix: %w", py, err)
	}
	return strings.TrimSpace(string(out)), nil
}

func jupyterPython() (string, error) {
	jupyter, err := exec.LookPath("jupyter")
	if err != nil {
		// No Jupyter to read from; python3 is the best guess of where it will be installed.
		return exec.LookPath("python3")
	}
	f, err := os.Open(jupyter)
	if err != nil {
		return "", fmt.Errorf("kernelspec: %w", err)
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	fields := strings.Fields(strings.TrimPrefix(line, "#!"))
	switch {
	case !strings.HasPrefix(line, "#!") || len(fields) == 0:
		return exec.LookPath("python3") // a binary launcher: nothing to read
	case filepath.Base(fields[0]) == "env" && len(fields) > 1:
		return exec.LookPath(fields[len(fields)-1]) // #!/usr/bin/env python3
	default:
		return fields[0], nil
	}
}

// Install writes the kernelspec (kernel.json, logo-32x32.png, logo-64x64.png) and returns its directory. An
// existing govalent kernelspec there is replaced.
func Install(opts Options) (string, error) {
	dir, err := Dir(opts)
	if err != nil {
		return "", err
	}
	bin := opts.Binary
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			return "", fmt.Errorf("kernelspec: %w", err)
		}
	}
	if bin, err = filepath.Abs(bin); err != nil {
		return "", fmt.Errorf("kernelspec: %w", err)
	}
	// Jupyter starts the kernel from anywhere: a spec naming a missing binary would fail only then.
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		return "", fmt.Errorf("kernelspec: %s is not the govalent binary", bin)
	}
	spec := Spec{
		Argv:          []string{bin, "kernel", "-f", "{connection_file}"},
		DisplayName:   DisplayName,
		Language:      "go",
		InterruptMode: "message", // the kernel handles interrupt_request; no signal needed
		Env:           opts.Env,
		Metadata:      map[string]any{"debugger": false},
	}
	files := map[string][]byte{}
	if files["kernel.json"], err = json.MarshalIndent(spec, "", "  "); err != nil {
		return "", fmt.Errorf("kernelspec: %w", err)
	}
	for _, size := range []int{32, 64} {
		var buf bytes.Buffer
		if err := png.Encode(&buf, Logo(size)); err != nil {
			return "", fmt.Errorf("kernelspec: %w", err)
		}
		files[fmt.Sprintf("logo-%dx%d.png", size, size)] = buf.Bytes()
	}
	// Write a sibling directory, then swap it in: Jupyter never sees a half-written spec.
	kernels := filepath.Dir(dir)
	if err := os.MkdirAll(kernels, 0o755); err != nil {
		return "", fmt.Errorf("kernelspec: %w", err)
	}
	tmp, err := os.MkdirTemp(kernels, "."+Name+"-")
	if err != nil {
		return "", fmt.Errorf("kernelspec: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(tmp, name), data, 0o644); err != nil {
			return "", fmt.Errorf("kernelspec: %w", err)
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp makes it 0700
		return "", fmt.Errorf("kernelspec: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("kernelspec: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("kernelspec: %w", err)
	}
	return dir, nil
}

// Uninstall removes the kernelspec and returns the directory it was in. It fails with an error matching
// os.ErrNotExist if there is none.
func Uninstall(opts Options) (string, error) {
	dir, err := Dir(opts)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(dir, "kernel.json")); err != nil {
		return dir, fmt.Errorf("kernelspec: no %s kernel in %s: %w", Name, filepath.Dir(dir), os.ErrNotExist)
	}
	if err := os.RemoveAll(dir); err != nil {
		return dir, fmt.Errorf("kernelspec: %w", err)
	}
	return dir, nil
}

// Logo draws the kernel's logo at size×size: a white "G" on a Go-blue rounded square, antialiased by sampling
// each pixel 4×4 times.
func Logo(size int) image.Image {
	blue := [3]float64{0x00, 0xAD, 0xD8} // Go's "Gopher Blue"
	const n = 4
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	for py := 0; py < size; py++ {
		for px := 0; px < size; px++ {
			var cover, white float64
			for sy := 0; sy < n; sy++ {
				for sx := 0; sx < n; sx++ {
					// Unit coordinates with y up, centred on the icon.
					x := (float64(px)+(float64(sx)+0.5)/n)/float64(size) - 0.5
					y := 0.5 - (float64(py)+(float64(sy)+0.5)/n)/float64(size)
					if !inRoundedSquare(x, y) {
						continue
					}
					cover++
					if inG(x, y) {
						white++
					}
				}
			}
			if cover == 0 {
				continue
			}
			w := white / cover
			mix := func(c float64) uint8 { return uint8(math.Round(c*(1-w) + 255*w)) }
			img.SetNRGBA(px, py, color.NRGBA{mix(blue[0]), mix(blue[1]), mix(blue[2]), uint8(math.Round(255 * cover / (n * n)))})
		}
	}
	return img
}

func inRoundedSquare(x, y float64) bool {
	const half, r = 0.5, 0.2 // corner radius a fifth of the side
	dx, dy := math.Abs(x)-(half-r), math.Abs(y)-(half-r)
	if dx <= 0 || dy <= 0 {
		return math.Abs(x) <= half && math.Abs(y) <= half
	}
	return dx*dx+dy*dy <= r*r
}

// inG: a ring open on the upper right, and a crossbar from the centre to the ring's right edge.
func inG(x, y float64) bool {
	const outer, stroke = 0.32, 0.12
	d := math.Hypot(x, y)
	angle := math.Atan2(y, x) * 180 / math.Pi
	ring := d <= outer && d >= outer-stroke && !(angle > 0 && angle < 50)
	bar := x >= 0 && d <= outer && y <= 0 && y >= -stroke
	return ring || bar
}
