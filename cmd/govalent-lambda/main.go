// Command govalent-lambda is the AWS Lambda handler of the awslambda executor. Deploy it as the function's
// bootstrap (runtime provided.al2023) with the govalent binary beside it: each invocation, {"task":
// "s3://.../task.json"}, runs `govalent worker --once --task URL` as a child process, the same entry point as a
// Batch job, so an electron that crashes or calls os.Exit cannot take the runtime down with it. The worker's
// output goes to the function's log. Build it with -tags lambda.norpc.
//
// GOVALENT_BIN names the govalent binary; by default it is "govalent" beside this executable, then on PATH.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/aws/aws-lambda-go/lambda"
)

// event is the awslambda executor's Event (declared again so that the handler stays a small binary).
type event struct {
	Task string `json:"task"`
}

func main() { lambda.Start(handle) }

func handle(ctx context.Context, ev event) error {
	if ev.Task == "" {
		return errors.New(`govalent-lambda: the event has no "task" (want {"task": "s3://.../task.json"})`)
	}
	bin, err := workerBinary()
	if err != nil {
		return err
	}
	// Only /tmp is writable on Lambda: each task works in a fresh directory there, so relative file transfer
	// paths work and nothing is left for the next invocation of a warm sandbox.
	dir, err := os.MkdirTemp("", "govalent-task-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cmd := exec.CommandContext(ctx, bin, "worker", "--once", "--task", ev.Task)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("govalent-lambda: %s: %w", ev.Task, err)
	}
	return nil
}

func workerBinary() (string, error) {
	if b := os.Getenv("GOVALENT_BIN"); b != "" {
		return b, nil
	}
	if exe, err := os.Executable(); err == nil {
		beside := filepath.Join(filepath.Dir(exe), "govalent")
		if _, err := os.Stat(beside); err == nil {
			return beside, nil
		}
	}
	return exec.LookPath("govalent")
}
