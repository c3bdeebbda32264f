// Package awsbatch is the "awsbatch" executor: each task is uploaded to S3 and runs as an AWS Batch job,
// `govalent worker --once --task s3://...`, in a container image the user names; the job writes its outcome
// (output or error, stdout and stderr) back to S3, where the executor reads it once the job ends. Cancelling a
// node terminates its job.
//
// Settings ([executors.awsbatch] in the config file, or ct.With on an electron):
//
//	s3              s3://bucket/prefix for task and outcome files (required)
//	job_queue       the Batch job queue (required)
//	job_definition  an existing job definition (name, name:revision or ARN); or
//	image           a container image with govalent in it: a job definition "govalent-worker" is registered for it
//	job_role_arn    the job's IAM role, for a registered definition (it needs the S3 access)
//	execution_role_arn  the ECS execution role, for a registered definition on Fargate
//	platform        EC2 (default) or FARGATE, for a registered definition
//	vcpu            vCPUs per job (default 1)
//	memory          MiB per job (default 2048)
//	command         the worker binary in the image and any leading arguments (default ["govalent"])
//	environment     extra environment variables for the job
//	poll, max_poll  status checks: the first wait, doubling up to max_poll (default 2s and 30s)
//
// A node's time limit (ct.TimeLimit) counts from the job's start; the job also gets it as its Batch attempt
// timeout (at least 60 s, Batch's minimum).
package awsbatch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/aws/awstask"
	"github.com/govalent/govalent/results/objects"
)

// Settings are the awsbatch executor's settings.
type Settings struct {
	awstask.Common
	JobQueue         string            `json:"job_queue"`
	JobDefinition    string            `json:"job_definition"`
	Image            string            `json:"image"`
	JobRoleARN       string            `json:"job_role_arn"`
	ExecutionRoleARN string            `json:"execution_role_arn"`
	Platform         string            `json:"platform"`
	VCPU             float64           `json:"vcpu"`   // 0: the job definition's (1 for one govalent registers)
	Memory           int               `json:"memory"` // MiB; 0: the job definition's (2048 for one govalent registers)
	Command          []string          `json:"command"`
	Environment      map[string]string `json:"environment"`
}

type backend struct {
	exec *awstask.JobExecutor

	once   sync.Once
	client *batch.Client
	err    error

	mu   sync.Mutex
	defs map[string]string // registered job definitions by image, roles and platform
}

// New makes the executor; defaults is its [executors.NAME] table. The AWS configuration is loaded at the
// first task, the standard way (environment, profile, SSO, instance or task role).
func New(name string, defaults map[string]any, log *slog.Logger) (*awstask.JobExecutor, error) {
	b := &backend{defs: map[string]string{}}
	e, err := awstask.New(name, defaults, b, log)
	b.exec = e
	return e, err
}

func (b *backend) NewSettings() awstask.Settings {
	return &Settings{Command: []string{"govalent"}, Platform: "EC2"}
}

func (b *backend) batch(ctx context.Context) (*batch.Client, error) {
	b.once.Do(func() {
		cfg, err := objects.LoadAWS(ctx)
		b.client, b.err = batch.NewFromConfig(cfg), err
	})
	return b.client, b.err
}

func (b *backend) Start(ctx context.Context, t *executors.Task, taskURL string, as awstask.Settings) (awstask.Job, error) {
	s := as.(*Settings)
	if s.JobQueue == "" {
		return nil, b.exec.Missing("job_queue")
	}
	if s.JobDefinition == "" && s.Image == "" {
		return nil, errors.New("awsbatch needs a job_definition or an image to register one for")
	}
	cl, err := b.batch(ctx)
	if err != nil {
		return nil, err
	}
	def := s.JobDefinition
	if def == "" {
		if def, err = b.register(ctx, cl, s); err != nil {
			return nil, err
		}
	}
	in := &batch.SubmitJobInput{
		JobName:       aws.String(jobName(t)),
		JobQueue:      &s.JobQueue,
		JobDefinition: &def,
		ContainerOverrides: &types.ContainerOverrides{
			Command:              append(append([]string{}, s.Command...), "worker", "--once", "--task", taskURL),
			Environment:          environment(s.Environment),
			ResourceRequirements: resources(s, false),
		},
	}
	if t.TimeLimit > 0 {
		secs := max(60, int32(math.Ceil(t.TimeLimit.Seconds()))) // Batch's minimum is 60
		in.Timeout = &types.JobTimeout{AttemptDurationSeconds: aws.Int32(secs)}
	}
	out, err := cl.SubmitJob(ctx, in)
	if err != nil {
		return nil, err
	}
	return &job{cl: cl, id: *out.JobId}, nil
}

// jobName is unique enough to find a node's jobs in the console; Batch allows letters, digits, - and _.
func jobName(t *executors.Task) string {
	id := t.DispatchID
	if len(id) > 8 {
		id = id[:8]
	}
	return fmt.Sprintf("govalent-%s-node%d", id, t.NodeID)
}

func environment(env map[string]string) []types.KeyValuePair {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []types.KeyValuePair
	for _, k := range keys {
		out = append(out, types.KeyValuePair{Name: aws.String(k), Value: aws.String(env[k])})
	}
	return out
}

// resources are the vCPU and memory the settings ask for: only those set, so that a job definition of the
// user's keeps its own, or (registering) with defaults for those not set.
func resources(s *Settings, defaults bool) []types.ResourceRequirement {
	vcpu, memory := s.VCPU, s.Memory
	if defaults {
		vcpu, memory = cmp.Or(vcpu, 1), cmp.Or(memory, 2048)
	}
	var rs []types.ResourceRequirement
	if vcpu > 0 {
		rs = append(rs, types.ResourceRequirement{Type: types.ResourceTypeVcpu, Value: aws.String(strconv.FormatFloat(vcpu, 'f', -1, 64))})
	}
	if memory > 0 {
		rs = append(rs, types.ResourceRequirement{Type: types.ResourceTypeMemory, Value: aws.String(strconv.Itoa(memory))})
	}
	return rs
}

// register registers a job definition for the image once per dispatcher run (Batch keeps revisions).
func (b *backend) register(ctx context.Context, cl *batch.Client, s *Settings) (string, error) {
	key := strings.Join([]string{s.Image, s.JobRoleARN, s.ExecutionRoleARN, s.Platform}, "\x00")
	b.mu.Lock()
	defer b.mu.Unlock()
	if arn, ok := b.defs[key]; ok {
		return arn, nil
	}
	props := &types.ContainerProperties{
		Image:                &s.Image,
		Command:              append(append([]string{}, s.Command...), "worker", "--once"),
		ResourceRequirements: resources(s, true),
	}
	if s.JobRoleARN != "" {
		props.JobRoleArn = &s.JobRoleARN
	}
	if s.ExecutionRoleARN != "" {
		props.ExecutionRoleArn = &s.ExecutionRoleARN
	}
	out, err := cl.RegisterJobDefinition(ctx, &batch.RegisterJobDefinitionInput{
		JobDefinitionName:    aws.String("govalent-worker"),
		Type:                 types.JobDefinitionTypeContainer,
		ContainerProperties:  props,
		PlatformCapabilities: []types.PlatformCapability{types.PlatformCapability(strings.ToUpper(s.Platform))},
	})
	if err != nil {
		return "", fmt.Errorf("registering a job definition for %s: %w", s.Image, err)
	}
	b.defs[key] = *out.JobDefinitionArn
	return *out.JobDefinitionArn, nil
}

type job struct {
	cl *batch.Client
	id string
}

func (j *job) Poll(ctx context.Context) (awstask.State, error) {
	out, err := j.cl.DescribeJobs(ctx, &batch.DescribeJobsInput{Jobs: []string{j.id}})
	if err != nil {
		return awstask.State{}, err
	}
	if len(out.Jobs) == 0 {
		return awstask.State{}, fmt.Errorf("Batch does not know job %s", j.id)
	}
	d := out.Jobs[0]
	switch d.Status {
	case types.JobStatusRunning:
		return awstask.State{Running: true}, nil
	case types.JobStatusSucceeded:
		return awstask.State{Done: true, Running: true}, nil
	case types.JobStatusFailed:
		return awstask.State{Done: true, Running: true, Failure: failureOf(j.id, &d)}, nil
	}
	return awstask.State{}, nil
}

// failureOf says why a Batch job failed, from what Batch reports.
func failureOf(id string, d *types.JobDetail) error {
	msg := "Batch job " + id + " failed"
	if d.StatusReason != nil && *d.StatusReason != "" {
		msg += ": " + *d.StatusReason
	}
	if c := d.Container; c != nil {
		if c.Reason != nil && *c.Reason != "" {
			msg += "; container: " + *c.Reason
		}
		if c.ExitCode != nil {
			msg += fmt.Sprintf("; exit code %d", *c.ExitCode)
		}
		if c.LogStreamName != nil {
			msg += "; log stream " + *c.LogStreamName
		}
	}
	return errors.New(msg)
}

func (j *job) Stop(ctx context.Context, reason string) error {
	_, err := j.cl.TerminateJob(ctx, &batch.TerminateJobInput{JobId: &j.id, Reason: &reason})
	return err
}
