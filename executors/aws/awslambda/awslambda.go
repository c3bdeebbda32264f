// Package awslambda is the "awslambda" executor: each task is uploaded to S3 and handed to a Lambda function
// the user deployed (the cmd/govalent-lambda handler with the govalent binary beside it), invoked
// asynchronously; the function runs `govalent worker --once --task s3://...`, which writes the outcome to S3,
// where the executor polls for it.
//
// Settings ([executors.awslambda] in the config file, or ct.With on an electron):
//
//	s3         s3://bucket/prefix for task and outcome files (required; the function's role needs access)
//	function   the function's name or ARN (required)
//	qualifier  a version or alias (optional)
//	timeout    how long to wait for an outcome after invoking (default 15m, Lambda's own longest run)
//	poll, max_poll  outcome checks: the first wait, doubling up to max_poll (default 2s and 30s)
//
// Lambda cannot stop an invocation: cancelling a node marks it cancelled at once and the invocation runs to its
// end, its outcome ignored. A node's time limit counts from the invocation; set the function's own timeout to
// match. An invocation that dies without writing an outcome (a crash, the function's timeout) shows as no
// outcome within `timeout`, with a pointer to the function's logs.
package awslambda

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/aws/awstask"
	"github.com/govalent/govalent/results/objects"
)

// Settings are the awslambda executor's settings.
type Settings struct {
	awstask.Common
	Function  string           `json:"function"`
	Qualifier string           `json:"qualifier"`
	Timeout   awstask.Duration `json:"timeout"`
}

// Event is what the function receives.
type Event struct {
	Task string `json:"task"` // s3://.../task.json
}

type backend struct {
	exec   *awstask.JobExecutor
	once   sync.Once
	client *lambda.Client
	err    error
}

// New makes the executor; defaults is its [executors.NAME] table.
func New(name string, defaults map[string]any, log *slog.Logger) (*awstask.JobExecutor, error) {
	b := &backend{}
	e, err := awstask.New(name, defaults, b, log)
	b.exec = e
	return e, err
}

func (b *backend) NewSettings() awstask.Settings {
	return &Settings{Timeout: awstask.Duration(15 * time.Minute)}
}

func (b *backend) lambda(ctx context.Context) (*lambda.Client, error) {
	b.once.Do(func() {
		cfg, err := objects.LoadAWS(ctx)
		b.client, b.err = lambda.NewFromConfig(cfg), err
	})
	return b.client, b.err
}

func (b *backend) Start(ctx context.Context, t *executors.Task, taskURL string, as awstask.Settings) (awstask.Job, error) {
	s := as.(*Settings)
	if s.Function == "" {
		return nil, b.exec.Missing("function")
	}
	cl, err := b.lambda(ctx)
	if err != nil {
		return nil, err
	}
	payload, _ := json.Marshal(Event{Task: taskURL})
	in := &lambda.InvokeInput{FunctionName: &s.Function, InvocationType: types.InvocationTypeEvent, Payload: payload}
	if s.Qualifier != "" {
		in.Qualifier = &s.Qualifier
	}
	if _, err := cl.Invoke(ctx, in); err != nil {
		return nil, err
	}
	st, err := objects.NewS3(ctx, strings.TrimSuffix(taskURL, "/task.json"))
	if err != nil {
		return nil, err
	}
	return &invocation{st: st, function: s.Function, deadline: time.Now().Add(time.Duration(s.Timeout)), timeout: time.Duration(s.Timeout)}, nil
}

// invocation is an asynchronous run, known only by the outcome it writes.
type invocation struct {
	st       *objects.S3
	function string
	deadline time.Time
	timeout  time.Duration
}

func (i *invocation) Poll(ctx context.Context) (awstask.State, error) {
	ok, err := i.st.Exists(ctx, "outcome.json")
	if err != nil {
		return awstask.State{}, err
	}
	if ok {
		return awstask.State{Done: true, Running: true}, nil
	}
	if time.Now().After(i.deadline) {
		return awstask.State{Done: true, Running: true, Failure: fmt.Errorf("no outcome from Lambda function %s within %s at %s (it crashed or hit its own timeout: see its CloudWatch logs)",
			i.function, i.timeout, i.st.URL("outcome.json"))}, nil
	}
	return awstask.State{Running: true}, nil
}

// Stop does nothing: an invocation cannot be stopped; its late outcome is never read.
func (i *invocation) Stop(context.Context, string) error { return nil }
