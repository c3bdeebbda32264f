package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/gorilla/mux"
	"github.com/govalent/govalent/ct/wire"
	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/native"
)

// binaryStore holds the executables that compiled programs upload (PUT /api/v1/binaries/{sha256}): each is the
// worker binary of its own program's electrons (see ct.Main), named by the sha256 of its content. They are kept
// on this machine only, for the executors that run on it; remote workers cannot fetch them.
type binaryStore struct{ dir string }

// maxBinarySize bounds an uploaded executable; Go programs are tens of MB.
const maxBinarySize = 1 << 30

func (s binaryStore) path(hash string) string { return filepath.Join(s.dir, hash) }

// size is the size of executable hash, or -1 when it was not uploaded.
func (s binaryStore) size(hash string) int64 {
	fi, err := os.Stat(s.path(hash))
	if err != nil || !fi.Mode().IsRegular() {
		return -1
	}
	return fi.Size()
}

// put stores content as executable hash, which it must hash to. An executable uploaded already is kept.
func (s binaryStore) put(hash string, content io.Reader) error {
	_, err := native.Fetch(context.Background(), s.dir, hash, func(context.Context) (io.ReadCloser, error) { return io.NopCloser(content), nil })
	var mismatch *native.HashMismatchError
	if errors.As(err, &mismatch) {
		return fmt.Errorf("%w: the content's sha256 is %s, not %s", ErrBadRequest, mismatch.Got, hash)
	}
	return err
}

// check tells whether the executables a graph names were uploaded.
func (s binaryStore) check(binaries map[string]string) error {
	for platform, hash := range binaries {
		if s.size(hash) < 0 {
			return fmt.Errorf("%w: the program's executable for %s (%s) was not uploaded: PUT it to /api/v1/binaries/%s first", ErrBadRequest, platform, hash, hash)
		}
	}
	return nil
}

// binaries are the executables a graph names, where the executors find them.
func (s binaryStore) binaries(binaries map[string]string) map[string]executors.Binary {
	out := make(map[string]executors.Binary, len(binaries))
	for platform, hash := range binaries {
		out[platform] = executors.Binary{Hash: hash, Path: s.path(hash)}
	}
	return out
}

// getBinary answers {sha256, size} when the executable was uploaded, else 404; a client asks with HEAD before it
// uploads.
func (d *Dispatcher) getBinary(w http.ResponseWriter, r *http.Request) {
	hash := mux.Vars(r)["sha256"]
	if !wire.IsSHA256(hash) {
		writeError(w, http.StatusBadRequest, fmt.Errorf("%q is not a sha256 (64 lowercase hex digits)", hash))
		return
	}
	size := d.binaries.size(hash)
	if size < 0 {
		writeError(w, http.StatusNotFound, fmt.Errorf("no executable %s", hash))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sha256": hash, "size": size})
}

// putBinary stores an executable whose content hashes to the sha256 its path names. (A PUT needs no JSON
// content type to be safe from web pages, as a POST does: no form sends one, and a script's is preflighted.)
func (d *Dispatcher) putBinary(w http.ResponseWriter, r *http.Request) {
	hash := mux.Vars(r)["sha256"]
	if !wire.IsSHA256(hash) {
		writeError(w, http.StatusBadRequest, fmt.Errorf("%q is not a sha256 (64 lowercase hex digits)", hash))
		return
	}
	if size := d.binaries.size(hash); size >= 0 {
		writeJSON(w, http.StatusOK, map[string]any{"sha256": hash, "size": size})
		return
	}
	err := d.binaries.put(hash, http.MaxBytesReader(w, r.Body, maxBinarySize))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("executable larger than %d bytes", tooBig.Limit))
	case err != nil:
		writeError(w, errorCode(err), fmt.Errorf("storing executable %s: %w", hash, err))
	default:
		d.cfg.Logger.Info("stored an uploaded executable", "sha256", hash)
		writeJSON(w, http.StatusCreated, map[string]any{"sha256": hash, "size": d.binaries.size(hash)})
	}
}
