package awstask

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/process"
	"github.com/govalent/govalent/native"
	"github.com/govalent/govalent/results/objects"
)

// RunURL is `govalent worker --once --task s3://bucket/.../task.json`: it reads the task file, runs the task in
// this process (output captured as in any worker) and writes outcome.json beside the task file. An electron that
// fails still gives an outcome; an error here means the outcome could not be produced or stored.
func RunURL(ctx context.Context, taskURL string) error {
	bucket, key, err := objects.ParseS3URL(taskURL)
	if err != nil {
		return err
	}
	if !strings.HasSuffix(key, "/task.json") {
		return fmt.Errorf("task %s: want an s3://.../task.json written by an AWS executor", taskURL)
	}
	st, err := objects.NewS3(ctx, "s3://"+bucket+"/"+path.Dir(key))
	if err != nil {
		return err
	}
	r, err := st.Get(ctx, "task.json")
	if err != nil {
		return err
	}
	var env Envelope
	err = json.NewDecoder(r).Decode(&env)
	r.Close()
	if err != nil {
		return fmt.Errorf("task %s: %w", taskURL, err)
	}
	env.Task.Program = env.Program
	if bin, ok := env.Task.Binaries[executors.Platform]; ok {
		if bin.Path, err = fetchBinary(ctx, bin); err != nil {
			return err
		}
		env.Task.Binaries = map[string]executors.Binary{executors.Platform: bin}
	}
	oc, err := process.RunOnce(&env.Task)
	if err != nil {
		return err
	}
	data, err := json.Marshal(oc)
	if err != nil {
		return err
	}
	return st.Put(ctx, "outcome.json", bytes.NewReader(data))
}

// fetchBinary copies a task's native binary from S3 into this machine's cache, once per binary.
func fetchBinary(ctx context.Context, bin executors.Binary) (string, error) {
	bucket, key, err := objects.ParseS3URL(bin.Path)
	if err != nil {
		return "", err
	}
	st, err := objects.NewS3(ctx, "s3://"+bucket+"/"+path.Dir(key))
	if err != nil {
		return "", err
	}
	return native.Fetch(ctx, native.WorkerCache(), bin.Hash, func(ctx context.Context) (io.ReadCloser, error) {
		return st.Get(ctx, path.Base(key))
	})
}
