package circuit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/google/uuid"
	qc "github.com/govalent/govalent/ct/quantum"
	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/aws/awstask"
	"github.com/govalent/govalent/executors/circuit/qasm"
	"github.com/govalent/govalent/executors/circuit/qsim"
	"github.com/govalent/govalent/results/objects"
)

// BraketSettings are the braket executor's settings.
type BraketSettings struct {
	DeviceARN   string           `json:"device_arn"`
	S3          string           `json:"s3"`
	Shots       int              `json:"shots"`
	Observables []string         `json:"observables"`
	Region      string           `json:"region"`
	Endpoint    string           `json:"endpoint"`
	Poll        awstask.Duration `json:"poll"`
	MaxPoll     awstask.Duration `json:"max_poll"`
	MaxQubits   int              `json:"max_qubits"` // up to the configured one
}

// braketSettings decodes the settings; max_qubits may be from 1 to maxQubits, which is its default.
func braketSettings(name string, raw []byte, maxQubits int) (BraketSettings, error) {
	s := BraketSettings{Shots: 1000, Poll: awstask.Duration(time.Second), MaxPoll: awstask.Duration(20 * time.Second), MaxQubits: maxQubits}
	if err := executors.DecodeSettings(name, raw, &s); err != nil {
		return s, err
	}
	if s.Shots < 0 || s.Poll <= 0 || s.MaxPoll < s.Poll {
		return s, fmt.Errorf("executor %s settings: shots must be >= 0, poll > 0 and max_poll >= poll", name)
	}
	if s.MaxQubits < 1 || s.MaxQubits > maxQubits {
		return s, fmt.Errorf("executor %s settings: max_qubits %d is not from 1 to the %d configured in [executors.%s]", name, s.MaxQubits, maxQubits, name)
	}
	return s, nil
}

// The braket executor's limits by default. Its memory is held only while a task's program is parsed and sent,
// and while its results are read: not while it waits on Braket.
const (
	braketMemory    = 2 << 30
	braketMaxQubits = 128
)

// required reports the settings a task cannot start without; they may come from the electron, so the
// configuration alone is not checked for them.
func (s BraketSettings) required(name string) error {
	for key, v := range map[string]string{"device_arn": s.DeviceARN, "s3": s.S3} {
		if v == "" {
			return fmt.Errorf("executor %s needs the %q setting (in [executors.%s] of the config file, or ct.With(%q, ...) on the electron)", name, key, name, key)
		}
	}
	_, _, err := objects.ParseS3URL(s.S3)
	return err
}

// NewBraket is the braket executor: electrons run on inner, their jobs as Amazon Braket quantum tasks.
// Requests are signed with SigV4 using the standard AWS configuration (environment, profiles, roles).
//
// A task's program is parsed, and its results are read, in this process: both within the limits of the
// configuration (memory, max_gates, max_qubits), with the memory taken from the executor's budget before it
// is allocated. A task whose program or results could not fit fails before it is created on Braket.
func NewBraket(name string, inner executors.Executor, defaults map[string]any, log *slog.Logger) (*Runner, error) {
	rest, lim, err := operatorLimits(name, defaults, braketMemory)
	if err != nil {
		return nil, err
	}
	e, err := newExecutor(name, inner, rest, 64, log) // the work is on AWS: many tasks may wait at once
	if err != nil {
		return nil, err
	}
	e.operatorOnly = []string{memorySetting, maxGatesSetting}
	configured, err := braketSettings(name, e.defaults.Merge(nil), qasm.MaxQubits)
	if err != nil {
		return nil, err
	}
	if _, set := rest["max_qubits"]; !set {
		configured.MaxQubits = braketMaxQubits
	}
	lim.Qubits = configured.MaxQubits
	b := &braketClient{name: name, signer: v4.NewSigner(), http: &http.Client{Timeout: time.Minute}, log: e.log, lim: lim}
	e.textJob = func(raw []byte) (qc.Job, error) {
		s, err := braketSettings(name, raw, lim.Qubits)
		return qc.Job{Shots: s.Shots, Observables: s.Observables}, err
	}
	e.run = b.run
	return e, e.check(nil, e.defaults.Merge(nil))
}

type braketClient struct {
	name   string
	signer *v4.Signer
	http   *http.Client
	log    *slog.Logger
	lim    qsim.Limits // Qubits: the configured max_qubits
}

// braketTask is GetQuantumTask's answer (the fields read).
type braketTask struct {
	QuantumTaskArn    string `json:"quantumTaskArn"`
	Status            string `json:"status"`
	FailureReason     string `json:"failureReason"`
	OutputS3Bucket    string `json:"outputS3Bucket"`
	OutputS3Directory string `json:"outputS3Directory"`
}

type session struct {
	cfg      aws.Config
	endpoint string
}

func (b *braketClient) run(ctx context.Context, job qc.Job, raw []byte) (qc.Result, error) {
	s, err := braketSettings(b.name, raw, b.lim.Qubits)
	if err != nil {
		return qc.Result{}, err
	}
	if err := s.required(b.name); err != nil {
		return qc.Result{}, err
	}
	// Parse locally first: a bad program fails with a line and column, without a round trip to AWS. The
	// program and the request made of it are held in the budget until the task is created.
	lim := b.lim
	lim.Qubits = s.MaxQubits
	prog, held, err := qsim.ParseWithin(ctx, job.QASM, lim, func(prog *qasm.Program) (float64, string) {
		program, request := qsim.ProgramBytes(len(job.QASM), prog), RequestBytesPerSourceByte*sourceBytes(job, prog)
		return program + request, fmt.Sprintf("this task's program (%s) and its request to Braket (up to %s)", qsim.Size(program), qsim.Size(request))
	})
	var qe *qasm.QubitsError
	if errors.As(err, &qe) {
		return qc.Result{}, fmt.Errorf("the program has %d qubits; executor %s is limited to %d (max_qubits)", qe.Qubits, b.name, qe.Limit)
	}
	if err != nil {
		return qc.Result{}, err
	}
	release := sync.OnceFunc(func() { b.lim.Memory.Release(held) })
	defer release()
	if _, err := prog.Bind(job.Inputs); err != nil {
		return qc.Result{}, err
	}
	// The results are read once the task is done: a task whose results could not fit is not created.
	results := resultsBound(job, prog)
	if results.memory > float64(b.lim.Memory.Bytes()) {
		return qc.Result{}, fmt.Errorf("%s could take %s of memory to read; %s", results, qsim.Size(results.memory), b.lim.Memory)
	}
	source, keys, err := withResultTypes(job, prog)
	if err != nil {
		return qc.Result{}, err
	}
	cfg, err := objects.LoadAWS(ctx)
	if err != nil {
		return qc.Result{}, err
	}
	if s.Region != "" {
		cfg.Region = s.Region
	}
	ss := session{cfg: cfg, endpoint: s.Endpoint}
	if ss.endpoint == "" {
		ss.endpoint = os.Getenv("AWS_ENDPOINT_URL_BRAKET")
	}
	if ss.endpoint == "" && cfg.BaseEndpoint != nil {
		ss.endpoint = *cfg.BaseEndpoint
	}
	if ss.endpoint == "" {
		ss.endpoint = "https://braket." + cfg.Region + ".amazonaws.com"
	}
	bucket, prefix, _ := objects.ParseS3URL(s.S3)
	inputs := job.Inputs
	if inputs == nil {
		inputs = map[string]float64{}
	}
	action, _ := json.Marshal(map[string]any{
		"braketSchemaHeader": map[string]string{"name": "braket.ir.openqasm.program", "version": "1"},
		"source":             source,
		"inputs":             inputs,
	})
	var task struct {
		QuantumTaskArn string `json:"quantumTaskArn"`
	}
	err = b.call(ctx, ss, "CreateQuantumTask", http.MethodPost, "/quantum-task", map[string]any{
		"action": string(action), "clientToken": uuid.NewString(), "deviceArn": s.DeviceARN,
		"outputS3Bucket": bucket, "outputS3KeyPrefix": strings.Trim(prefix, "/"), "shots": job.Shots,
	}, &task)
	release() // the program and the request are garbage once sent
	if err != nil {
		return qc.Result{}, err
	}
	arn := task.QuantumTaskArn
	b.log.Info("braket task created", "arn", arn, "device", s.DeviceARN, "shots", job.Shots)
	wait := time.Duration(s.Poll)
	failedPolls := 0
	for {
		select {
		case <-ctx.Done():
			b.cancel(ss, arn)
			return qc.Result{}, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Duration(s.MaxPoll))
		var t braketTask
		if err := b.call(ctx, ss, "GetQuantumTask", http.MethodGet, "/quantum-task/"+url.PathEscape(arn), nil, &t); err != nil {
			if ctx.Err() != nil {
				continue // cancelled or timed out during the call: the select above cancels the task
			}
			// A throttled or failed status check is not the task failing: try again, and give up (stopping
			// the task, which costs money while it runs) only after several in a row.
			if failedPolls++; failedPolls < maxFailedPolls {
				b.log.Warn("checking a Braket task failed; retrying", "arn", arn, "err", err)
				continue
			}
			b.cancel(ss, arn)
			return qc.Result{}, fmt.Errorf("Braket task %s: %d status checks in a row failed, the last: %w", arn, failedPolls, err)
		}
		failedPolls = 0
		switch t.Status {
		case "COMPLETED":
			res, err := b.readResults(ctx, cfg, t, keys, results)
			if err != nil {
				return qc.Result{}, fmt.Errorf("Braket task %s: %w", arn, err)
			}
			res.Device, res.TaskARN = s.DeviceARN, arn
			return res, nil
		case "FAILED":
			return qc.Result{}, fmt.Errorf("Braket task %s failed: %s", arn, t.FailureReason)
		case "CANCELLED", "CANCELLING":
			return qc.Result{}, fmt.Errorf("Braket task %s was cancelled outside govalent", arn)
		}
	}
}

// maxFailedPolls is how many GetQuantumTask calls in a row may fail before a task is given up (and cancelled).
const maxFailedPolls = 10

// cancel asks Braket to stop a task; the task's own context is over, so it gets a fresh one.
func (b *braketClient) cancel(ss session, arn string) {
	ctx, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	err := b.call(ctx, ss, "CancelQuantumTask", http.MethodPut, "/quantum-task/"+url.PathEscape(arn)+"/cancel",
		map[string]string{"clientToken": uuid.NewString()}, nil)
	if err != nil {
		b.log.Warn("cancelling a braket task", "arn", arn, "err", err)
	} else {
		b.log.Info("braket task cancelled", "arn", arn)
	}
}

// call sends one SigV4-signed REST request and decodes the JSON answer into out.
func (b *braketClient) call(ctx context.Context, ss session, op, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		body, _ = json.Marshal(in)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(ss.endpoint, "/")+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("Braket %s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/json")
	creds, err := ss.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("Braket %s: AWS credentials: %w", op, err)
	}
	sum := sha256.Sum256(body)
	if err := b.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "braket", ss.cfg.Region, time.Now()); err != nil {
		return fmt.Errorf("Braket %s: signing: %w", op, err)
	}
	resp, err := b.http.Do(req)
	if err != nil {
		return fmt.Errorf("Braket %s: %w", op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("Braket %s: %w", op, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Message  string `json:"message"`
			Message2 string `json:"Message"`
		}
		_ = json.Unmarshal(data, &e)
		msg := e.Message + e.Message2
		if msg == "" {
			msg = strings.TrimSpace(string(data))
		}
		return fmt.Errorf("Braket %s: %s %s: %s", op, resp.Status, resp.Header.Get("X-Amzn-ErrorType"), msg)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("Braket %s: bad answer: %w", op, err)
	}
	return nil
}

// withResultTypes appends Braket result-type pragmas for the job's observables (and, with no shots, for the
// probabilities of the measured qubits), and maps each observable's canonical form to the job's names for it.
func withResultTypes(job qc.Job, prog *qasm.Program) (string, map[string][]string, error) {
	var b strings.Builder
	b.WriteString(strings.TrimRight(job.QASM, "\n") + "\n")
	keys := map[string][]string{}
	for _, o := range job.Observables {
		ps, err := qc.ParseObservable(o)
		if err != nil {
			return "", nil, err
		}
		var factors []string
		for _, p := range ps {
			if p.Qubit >= prog.NumQubits {
				return "", nil, fmt.Errorf("observable %q: qubit %d of %d", o, p.Qubit, prog.NumQubits)
			}
			factors = append(factors, fmt.Sprintf("%c(%s)", p.Op+'a'-'A', prog.QubitRef(p.Qubit)))
		}
		if len(factors) == 0 {
			factors = []string{"i(" + prog.QubitRef(0) + ")"}
		}
		canon := qc.FormatObservable(ps)
		if len(keys[canon]) == 0 {
			fmt.Fprintf(&b, "#pragma braket result expectation %s\n", strings.Join(factors, " @ "))
		}
		keys[canon] = append(keys[canon], o)
	}
	if job.Shots == 0 {
		var refs []string
		for _, q := range prog.Measured {
			refs = append(refs, prog.QubitRef(q))
		}
		if len(refs) == 0 {
			refs = []string{"all"}
		}
		fmt.Fprintf(&b, "#pragma braket result probability %s\n", strings.Join(refs, ", "))
	}
	return b.String(), keys, nil
}

// TaskResult is the part of a Braket results.json (schema braket.task_result.gate_model_task_result v1)
// that the executor reads.
type TaskResult struct {
	Header                   SchemaHeader       `json:"braketSchemaHeader"`
	Measurements             [][]int8           `json:"measurements,omitempty"` // bits: a byte each once decoded
	MeasurementProbabilities map[string]float64 `json:"measurementProbabilities,omitempty"`
	MeasuredQubits           []int              `json:"measuredQubits,omitempty"`
	ResultTypes              []ResultTypeValue  `json:"resultTypes,omitempty"`
	TaskMetadata             TaskMetadata       `json:"taskMetadata"`
	AdditionalMetadata       json.RawMessage    `json:"additionalMetadata,omitempty"`
}

// SchemaHeader names a Braket schema.
type SchemaHeader struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// ResultTypeValue is one requested result type and its value.
type ResultTypeValue struct {
	Type struct {
		Type       string   `json:"type"`
		Observable []string `json:"observable,omitempty"`
		Targets    []int    `json:"targets,omitempty"`
	} `json:"type"`
	Value json.RawMessage `json:"value"`
}

// TaskMetadata is the task's metadata in results.json.
type TaskMetadata struct {
	Header    SchemaHeader `json:"braketSchemaHeader"`
	ID        string       `json:"id"`
	Shots     int          `json:"shots"`
	DeviceID  string       `json:"deviceId"`
	CreatedAt string       `json:"createdAt,omitempty"`
	EndedAt   string       `json:"endedAt,omitempty"`
	Status    string       `json:"status,omitempty"`
}

// ResultsSchema is the name of the results.json schema read.
const ResultsSchema = "braket.task_result.gate_model_task_result"

// readResults reads results.json within bound, holding its memory in the budget.
func (b *braketClient) readResults(ctx context.Context, cfg aws.Config, t braketTask, keys map[string][]string, bound resultsSize) (qc.Result, error) {
	held, err := b.lim.Memory.Acquire(ctx, bound.memory, bound.String())
	if err != nil {
		return qc.Result{}, err
	}
	defer b.lim.Memory.Release(held)
	store := &objects.S3{Client: objects.NewS3Client(cfg), Bucket: t.OutputS3Bucket, Prefix: strings.Trim(t.OutputS3Directory, "/")}
	r, err := store.Get(ctx, "results.json")
	if err != nil {
		return qc.Result{}, err
	}
	defer r.Close()
	limit := int64(bound.json)
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return qc.Result{}, fmt.Errorf("results.json: %w", err)
	}
	if int64(len(data)) > limit {
		return qc.Result{}, fmt.Errorf("results.json is larger than the %s expected of %s; it was not read", qsim.Size(bound.json), bound)
	}
	var tr TaskResult
	if err := json.Unmarshal(data, &tr); err != nil {
		return qc.Result{}, fmt.Errorf("results.json: %w", err)
	}
	return MapResults(tr, keys)
}

// The memory model of a Braket task in the dispatcher. What is sent: the program with its result-type
// pragmas (sourceBytes), held with the copies made of it (the text built, the action's JSON, the request's JSON
// around that) at RequestBytesPerSourceByte. What comes back (results.json, Braket's own JSON, written with
// Python's separators): each term bounds its part generously, since a results.json beyond the sum is refused.
const (
	RequestBytesPerSourceByte = 24

	// ResultsBaseBytes: the schema headers, task metadata and device parameters; ResultsBytesPerSourceByte:
	// the additional metadata, which repeats the program and adds what the device compiled it to.
	ResultsBaseBytes          = 256 << 10
	ResultsBytesPerSourceByte = 32
	// A shot in measurements: its brackets and separators, and a bit per measured qubit.
	ResultsBytesPerShot = 16
	ResultsBytesPerBit  = 8
	// An outcome in measurementProbabilities: its quotes, separators and number, and its bitstring.
	ResultsBytesPerOutcome = 48
	// A result type's description (type, observable, targets per qubit) and value; a probability per outcome.
	ResultsBytesPerResultType  = 256
	ResultsBytesPerTarget      = 32
	ResultsBytesPerProbability = 32
	// A decoded shot: a slice header and a byte per bit.
	DecodedBytesPerShot = 32
	// DecodedBytesPerJSONByte bounds what decoding any results.json takes per byte of it.
	DecodedBytesPerJSONByte = 10
)

// sourceBytes bounds the program sent to Braket: the job's text, its inputs, and the pragmas withResultTypes
// adds, whose qubit references are at most the longest register name and an index.
func sourceBytes(job qc.Job, prog *qasm.Program) float64 {
	ref := float64(len(fmt.Sprint(prog.NumQubits))) + 3 // "$12", "q[12]"
	for _, r := range prog.Registers {
		ref = max(ref, float64(len(r.Name)+len(fmt.Sprint(r.Size))+2))
	}
	n := float64(len(job.QASM)) + 1
	for k := range job.Inputs { // sent with the program, in the action
		n += float64(len(k)) + 32
	}
	for _, o := range job.Observables { // a factor takes at least two characters, "Z0"
		n += 64 + float64(len(o)/2+1)*(ref+8)
	}
	if job.Shots == 0 {
		n += 64 + float64(qsim.MeasuredQubits(prog))*(ref+2)
	}
	return n
}

// resultsSize bounds a task's results: the size of results.json, and the memory of reading, decoding and
// mapping it.
type resultsSize struct {
	json, memory             float64
	shots, measured, results int
}

func (r resultsSize) String() string {
	return fmt.Sprintf("the results of %d shots of %d measured qubits with %d result types", r.shots, r.measured, r.results)
}

func resultsBound(job qc.Job, prog *qasm.Program) resultsSize {
	m := qsim.MeasuredQubits(prog)
	r := resultsSize{shots: job.Shots, measured: m, json: ResultsBaseBytes + ResultsBytesPerSourceByte*sourceBytes(job, prog)}
	var decoded float64
	if job.Shots > 0 {
		shots := float64(job.Shots)
		r.json += shots*(ResultsBytesPerShot+ResultsBytesPerBit*float64(m)) + // measurements
			min(shots, math.Ldexp(1, m))*(ResultsBytesPerOutcome+float64(m)) // measurementProbabilities
		decoded += shots*(DecodedBytesPerShot+float64(m)) + 2*qsim.ResultBytes(m, job.Shots) // and Counts, Probabilities
	}
	probability := func(k int) {
		r.results++
		r.json += ResultsBytesPerResultType + ResultsBytesPerTarget*float64(k) + ResultsBytesPerProbability*math.Ldexp(1, k)
		decoded += 8*math.Ldexp(1, k) + qsim.ResultBytes(k, 0) // the values, and their entries in Probabilities
	}
	r.results += len(job.Observables)
	r.json += float64(len(job.Observables)) * (ResultsBytesPerResultType + ResultsBytesPerTarget*float64(prog.NumQubits))
	for _, rt := range prog.Results {
		switch {
		case rt.Type == "probability" && len(rt.Qubits) > 0:
			probability(len(rt.Qubits))
		case rt.Type == "probability":
			probability(prog.NumQubits)
		default:
			r.results++
			r.json += ResultsBytesPerResultType + ResultsBytesPerTarget*float64(len(rt.Observable))
		}
	}
	if job.Shots == 0 {
		probability(m) // the pragma withResultTypes adds
	}
	// The bytes read (and ReadAll's growth), then whatever decoding them could make, honest or not (a map entry
	// or a slice header of a few bytes of JSON takes up to ten times that), and the results made of them.
	r.memory = (2+DecodedBytesPerJSONByte)*r.json + decoded
	return r
}

// MapResults turns a Braket task result into a ct/quantum Result. keys maps canonical observables ("Z0 Z1")
// to the names the job gave them; result types for other observables are keyed canonically.
func MapResults(tr TaskResult, keys map[string][]string) (qc.Result, error) {
	if tr.Header.Name != ResultsSchema {
		return qc.Result{}, fmt.Errorf("results.json has schema %q, not %s", tr.Header.Name, ResultsSchema)
	}
	res := qc.Result{MeasuredQubits: tr.MeasuredQubits, Shots: tr.TaskMetadata.Shots, Probabilities: map[string]float64{}}
	if len(tr.Measurements) > 0 {
		res.Counts = map[string]int{}
		for i, shot := range tr.Measurements {
			if len(shot) != len(tr.MeasuredQubits) {
				return qc.Result{}, fmt.Errorf("results.json: shot %d has %d bits for %d measured qubits", i, len(shot), len(tr.MeasuredQubits))
			}
			var b strings.Builder
			for _, bit := range shot {
				if bit != 0 && bit != 1 {
					return qc.Result{}, fmt.Errorf("results.json: shot %d has bit value %d", i, bit)
				}
				b.WriteByte('0' + byte(bit))
			}
			res.Counts[b.String()]++
		}
		for k, n := range res.Counts {
			res.Probabilities[k] = float64(n) / float64(len(tr.Measurements))
		}
	} else {
		for k, p := range tr.MeasurementProbabilities {
			res.Probabilities[k] = p
		}
	}
	for _, rt := range tr.ResultTypes {
		switch rt.Type.Type {
		case "expectation":
			var v float64
			if err := json.Unmarshal(rt.Value, &v); err != nil {
				return qc.Result{}, fmt.Errorf("results.json: expectation value %s: %w", rt.Value, err)
			}
			if len(rt.Type.Observable) != len(rt.Type.Targets) && !(len(rt.Type.Observable) == 1 && rt.Type.Observable[0] == "i") {
				return qc.Result{}, fmt.Errorf("results.json: observable %v on targets %v", rt.Type.Observable, rt.Type.Targets)
			}
			var ps []qc.Pauli
			for i, o := range rt.Type.Observable {
				if o != "i" {
					ps = append(ps, qc.Pauli{Op: strings.ToUpper(o)[0], Qubit: rt.Type.Targets[i]})
				}
			}
			slices.SortFunc(ps, func(a, b qc.Pauli) int { return a.Qubit - b.Qubit })
			canon := qc.FormatObservable(ps)
			if res.Expectations == nil {
				res.Expectations = map[string]float64{}
			}
			names := keys[canon]
			if len(names) == 0 {
				names = []string{canon}
			}
			for _, k := range names {
				res.Expectations[k] = v
			}
		case "probability":
			var ps []float64
			if err := json.Unmarshal(rt.Value, &ps); err != nil {
				return qc.Result{}, fmt.Errorf("results.json: probability values: %w", err)
			}
			m := len(rt.Type.Targets)
			if m == 0 { // all qubits
				for 1<<m < len(ps) {
					m++
				}
				res.MeasuredQubits = nil
				for q := 0; q < m; q++ {
					res.MeasuredQubits = append(res.MeasuredQubits, q)
				}
			} else {
				res.MeasuredQubits = rt.Type.Targets
			}
			if len(ps) != 1<<m {
				return qc.Result{}, errors.New("results.json: probability vector of the wrong length")
			}
			for x, p := range ps {
				if p >= 1e-15 {
					res.Probabilities[qsim.Bitstring(x, m)] = p
				}
			}
		}
	}
	return res, nil
}
