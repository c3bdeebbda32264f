// Package filetransfer runs an electron's file transfers (ct.Files) on the worker that runs it: local paths,
// s3://bucket/key (through the standard AWS configuration) and http(s):// URLs (GET to download, PUT to upload).
// Transfers stream; a transfer between two remote places, or a path with "..", is refused.
package filetransfer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/results/objects"
)

// SettingKey is the task setting that carries the transfers.
const SettingKey = ct.FilesSetting

// Parse reads the transfers from a task's settings and checks them.
func Parse(settings map[string]json.RawMessage) ([]ct.Transfer, error) {
	raw, ok := settings[SettingKey]
	if !ok {
		return nil, nil
	}
	var ts []ct.Transfer
	if err := json.Unmarshal(raw, &ts); err != nil {
		return nil, fmt.Errorf("file transfers: %w", err)
	}
	for i := range ts {
		if ts[i].Order == "" {
			ts[i].Order = ct.TransferBefore // the documented default, for a Transfer built without FileTransfer
		}
		if err := check(ts[i]); err != nil {
			return nil, err
		}
	}
	return ts, nil
}

func check(t ct.Transfer) error {
	where := fmt.Sprintf("file transfer %s -> %s", t.From, t.To)
	if t.From == "" || t.To == "" {
		return fmt.Errorf("%s: both ends are needed", where)
	}
	if t.Order != ct.TransferBefore && t.Order != ct.TransferAfter {
		return fmt.Errorf("%s: order %q: want before or after", where, t.Order)
	}
	if remote(t.From) && remote(t.To) {
		return fmt.Errorf("%s: remote-to-remote transfers are not supported: transfer to a local path first", where)
	}
	for _, p := range []string{t.From, t.To} {
		if strings.Contains(p, "://") && !remote(p) {
			return fmt.Errorf("%s: unsupported scheme in %q (want a local path, s3://, http:// or https://)", where, p)
		}
		if hasDotDot(p) {
			return fmt.Errorf("%s: %q has \"..\" (path traversal is refused)", where, p)
		}
	}
	return nil
}

func remote(p string) bool {
	return strings.HasPrefix(p, "s3://") || strings.HasPrefix(p, "http://") || strings.HasPrefix(p, "https://")
}

func hasDotDot(p string) bool {
	if i := strings.Index(p, "://"); i >= 0 {
		p = p[i+3:]
		if j := strings.IndexAny(p, "?#"); j >= 0 {
			p = p[:j]
		}
	}
	for _, part := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
		if part == ".." {
			return true
		}
	}
	return false
}

// Around runs the before-transfers, then fn with ct.ArrivedFiles telling what arrived, then, if fn succeeded,
// the after-transfers. A failed transfer is fn's error.
func Around(ctx context.Context, settings map[string]json.RawMessage, fn func() (json.RawMessage, error)) (json.RawMessage, error) {
	ts, err := Parse(settings)
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		return fn()
	}
	var arrived []string
	for _, t := range ts {
		if t.Order != ct.TransferBefore {
			continue
		}
		if err := Copy(ctx, t.From, t.To); err != nil {
			return nil, err
		}
		if !remote(t.To) {
			arrived = append(arrived, t.To)
		}
	}
	list, _ := json.Marshal(arrived)
	os.Setenv(ct.FilesEnv, string(list))
	out, err := fn()
	os.Unsetenv(ct.FilesEnv)
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		if t.Order == ct.TransferAfter {
			if err := Copy(ctx, t.From, t.To); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// Copy streams from to to; one of them at most is remote.
func Copy(ctx context.Context, from, to string) error {
	if err := check(ct.Transfer{From: from, To: to, Order: ct.TransferBefore}); err != nil {
		return err
	}
	r, err := open(ctx, from)
	if err == nil {
		err = write(ctx, to, r)
		r.Close()
	}
	if err != nil {
		return fmt.Errorf("file transfer %s -> %s: %w", from, to, err)
	}
	return nil
}

var httpClient = &http.Client{Timeout: 30 * time.Minute}

func open(ctx context.Context, src string) (io.ReadCloser, error) {
	switch {
	case strings.HasPrefix(src, "s3://"):
		st, key, err := s3At(ctx, src)
		if err != nil {
			return nil, err
		}
		return st.Get(ctx, key)
	case remote(src):
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
		if err != nil {
			return nil, err
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return nil, fmt.Errorf("download answered %s", resp.Status)
		}
		return resp.Body, nil
	default:
		return os.Open(src)
	}
}

func write(ctx context.Context, dst string, r io.Reader) error {
	switch {
	case strings.HasPrefix(dst, "s3://"):
		st, key, err := s3At(ctx, dst)
		if err != nil {
			return err
		}
		return st.Put(ctx, key, r)
	case remote(dst):
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, dst, r)
		if err != nil {
			return err
		}
		if f, ok := r.(*os.File); ok {
			if fi, err := f.Stat(); err == nil {
				req.ContentLength = fi.Size() // servers that refuse chunked uploads get a length
			}
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("upload (PUT) answered %s", resp.Status)
		}
		return nil
	default:
		return writeLocal(dst, r)
	}
}

// writeLocal writes beside dst and renames, so the electron never sees half a file.
func writeLocal(dst string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".govalent-transfer-*")
	if err != nil {
		return err
	}
	_, err = io.Copy(tmp, r)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

func s3At(ctx context.Context, u string) (*objects.S3, string, error) {
	bucket, key, err := objects.ParseS3URL(u)
	if err != nil {
		return nil, "", err
	}
	if key == "" || strings.HasSuffix(key, "/") {
		return nil, "", fmt.Errorf("%s names no object", u)
	}
	st, err := objects.NewS3(ctx, "s3://"+bucket)
	return st, key, err
}
