// Package filetransfer runs an electron's file transfers (ct.Files) on the worker that runs it: local paths,
// s3://bucket/key (through the standard AWS configuration) and http(s):// URLs (GET to download, PUT to upload).
// Transfers stream; a transfer between two remote places is refused.
//
// A transfer spec comes from whoever submits the workflow, so it may reach only what the worker's operator
// allows (the Policy, from the environment of the worker process):
//
//   - A local path is relative and stays inside the worker's working directory: ".." and symlinks that lead
//     out are refused (paths are resolved with os.Root). An absolute path is refused unless it is inside a
//     directory of GOVALENT_TRANSFER_DIRS (a list like PATH), and then it may not leave that directory either.
//   - An http(s) URL may not reach a loopback, private (RFC 1918, fc00::/7, 100.64.0.0/10), link-local
//     (169.254.0.0/16 with the cloud metadata services, fe80::/10), multicast or unspecified (0.0.0.0, ::)
//     address, unless the address is in GOVALENT_TRANSFER_HOSTS (comma-separated addresses and CIDR
//     prefixes). The check is on each address actually dialled, so names that resolve there, DNS rebinding
//     and redirects are refused too; no proxy is used.
//   - s3:// goes to the S3 endpoint of the worker's AWS configuration (the operator's), whatever the bucket.
package filetransfer

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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
func Around(ctx context.Context, settings map[string]json.RawMessage, fn func() ([]byte, error)) ([]byte, error) {
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

// Copy streams from to to; one of them at most is remote. It follows the Policy of the environment.
func Copy(ctx context.Context, from, to string) error {
	if err := check(ct.Transfer{From: from, To: to, Order: ct.TransferBefore}); err != nil {
		return err
	}
	pol, err := PolicyFromEnv()
	if err != nil {
		return err
	}
	c := pol.client()
	defer c.CloseIdleConnections()
	r, err := open(ctx, c, pol, from)
	if err == nil {
		err = write(ctx, c, pol, to, r)
		r.Close()
	}
	if err != nil {
		return fmt.Errorf("file transfer %s -> %s: %w", from, to, err)
	}
	return nil
}

// The environment variables of the Policy.
const (
	DirsEnv  = "GOVALENT_TRANSFER_DIRS"
	HostsEnv = "GOVALENT_TRANSFER_HOSTS"
)

// Policy is what transfers may reach beyond the worker's working directory and public addresses.
type Policy struct {
	Dirs  []string       // absolute directories local paths may also be in
	Hosts []netip.Prefix // addresses that http(s) may reach although they are loopback, private, ...
}

// PolicyFromEnv reads the Policy from DirsEnv and HostsEnv.
func PolicyFromEnv() (Policy, error) {
	var p Policy
	for _, d := range filepath.SplitList(os.Getenv(DirsEnv)) {
		if d == "" {
			continue
		}
		if !filepath.IsAbs(d) {
			return p, fmt.Errorf("%s: %q is not an absolute directory", DirsEnv, d)
		}
		p.Dirs = append(p.Dirs, filepath.Clean(d))
	}
	for _, h := range strings.Split(os.Getenv(HostsEnv), ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		pre, err := netip.ParsePrefix(h)
		if err != nil {
			a, aerr := netip.ParseAddr(h)
			if aerr != nil {
				return p, fmt.Errorf("%s: %q is not an address or a CIDR prefix", HostsEnv, h)
			}
			pre = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		p.Hosts = append(p.Hosts, pre.Masked())
	}
	return p, nil
}

// sharedSpace is RFC 6598's carrier-grade NAT range, where some clouds put their metadata services.
var sharedSpace = netip.MustParsePrefix("100.64.0.0/10")

// checkAddr refuses an address that is not public, unless the policy allows it.
func (p Policy) checkAddr(a netip.Addr) error {
	a = a.Unmap()
	for _, h := range p.Hosts {
		if h.Contains(a) {
			return nil
		}
	}
	var kind string
	switch {
	case a.IsLoopback():
		kind = "loopback"
	case a.IsUnspecified():
		kind = "unspecified"
	case a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast():
		kind = "link-local"
	case a.IsPrivate() || sharedSpace.Contains(a):
		kind = "private"
	case a.IsMulticast() || a.IsInterfaceLocalMulticast():
		kind = "multicast"
	default:
		return nil
	}
	return fmt.Errorf("address %s is %s: transfers may not reach it (an operator can allow it in %s)", a, kind, HostsEnv)
}

// client is an HTTP client whose every connection, redirects included, goes to an address the policy allows.
func (p Policy) client() *http.Client {
	d := &net.Dialer{Timeout: 30 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return err
		}
		return p.checkAddr(ap.Addr())
	}}
	return &http.Client{Timeout: 30 * time.Minute, Transport: &http.Transport{
		DialContext:         d.DialContext,
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: 30 * time.Second,
	}}
}

// local finds the root a local path must stay in and its name there.
func (p Policy) local(path string) (*os.Root, string, error) {
	if !filepath.IsAbs(path) {
		if !filepath.IsLocal(path) {
			return nil, "", fmt.Errorf("%q leaves the working directory", path)
		}
		root, err := os.OpenRoot(".")
		return root, path, err
	}
	path = filepath.Clean(path)
	for _, d := range p.Dirs {
		if rel, err := filepath.Rel(d, path); err == nil && filepath.IsLocal(rel) {
			root, err := os.OpenRoot(d)
			return root, rel, err
		}
	}
	return nil, "", fmt.Errorf("absolute path %q is refused: local paths are relative to the worker's working directory, or inside a directory of %s", path, DirsEnv)
}

func open(ctx context.Context, c *http.Client, pol Policy, src string) (io.ReadCloser, error) {
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
		resp, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return nil, fmt.Errorf("download answered %s", resp.Status)
		}
		return resp.Body, nil
	default:
		root, name, err := pol.local(src)
		if err != nil {
			return nil, err
		}
		defer root.Close() // the file stays open without it
		return root.Open(name)
	}
}

func write(ctx context.Context, c *http.Client, pol Policy, dst string, r io.Reader) error {
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
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("upload (PUT) answered %s", resp.Status)
		}
		return nil
	default:
		root, name, err := pol.local(dst)
		if err != nil {
			return err
		}
		defer root.Close()
		return writeLocal(root, name, r)
	}
}

// writeLocal writes beside name and renames, so the electron never sees half a file.
func writeLocal(root *os.Root, name string, r io.Reader) error {
	if err := root.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	tmpName := filepath.Join(filepath.Dir(name), ".govalent-transfer-"+rand.Text())
	tmp, err := root.OpenFile(tmpName, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(tmp, r)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmpName, name)
	}
	if err != nil {
		root.Remove(tmpName)
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
