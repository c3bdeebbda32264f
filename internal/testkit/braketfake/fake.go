// Package braketfake is a FAKE of the Amazon Braket REST API for tests: it is not Braket and talks to no AWS
// service. It serves CreateQuantumTask, GetQuantumTask and CancelQuantumTask on loopback, refuses requests
// without a SigV4 Authorization header for the braket service, runs each task's OpenQASM program with the qsim
// simulator, and writes a results.json in Braket's gate_model_task_result v1 schema to the task's S3 output
// location (any S3-protocol server the standard AWS configuration points at, e.g. internal/testkit/s3test).
//
// A task advances one status per GetQuantumTask call (CREATED, QUEUED, RUNNING, then COMPLETED or FAILED), so
// tests see every transition without timers; Hold keeps tasks QUEUED, FailWith makes them fail.
package braketfake

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/govalent/govalent/executors/circuit"
	"github.com/govalent/govalent/executors/circuit/qasm"
	"github.com/govalent/govalent/executors/circuit/qsim"
	"github.com/govalent/govalent/results/objects"
)

// Task is a task as the fake keeps it.
type Task struct {
	ARN, Device, Bucket, Prefix, Status, FailureReason string
	Shots                                              int
	Action                                             Action
	Cancelled                                          bool // CancelQuantumTask was called
}

// Action is the OpenQASM program action of a task.
type Action struct {
	Header circuit.SchemaHeader `json:"braketSchemaHeader"`
	Source string               `json:"source"`
	Inputs map[string]float64   `json:"inputs"`
}

// Server is a running fake.
type Server struct {
	URL string

	mu       sync.Mutex
	tasks    map[string]*Task
	order    []string
	hold     bool
	failWith string
	badPolls int // GetQuantumTask calls still to answer with a server error
	pad      int // bytes of padding in the additional metadata of results.json
	s3       *objects.S3
	unsigned int
}

// Start serves the fake on 127.0.0.1 until the test ends. cfg is the AWS configuration used to write results
// to S3.
func Start(t testing.TB, cfg aws.Config) *Server {
	s := &Server{tasks: map[string]*Task{}, s3: &objects.S3{Client: objects.NewS3Client(cfg)}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Hold keeps new and existing tasks QUEUED (for cancellation tests) until called with false.
func (s *Server) Hold(on bool) { s.mu.Lock(); s.hold = on; s.mu.Unlock() }

// FailWith makes tasks that reach RUNNING fail with reason ("" to stop).
func (s *Server) FailWith(reason string) { s.mu.Lock(); s.failWith = reason; s.mu.Unlock() }

// FailPolls answers the next n GetQuantumTask calls with 503 ServiceUnavailableException.
func (s *Server) FailPolls(n int) { s.mu.Lock(); s.badPolls = n; s.mu.Unlock() }

// Pad adds n bytes to the additional metadata of the results.json files written from now on (as a device
// could, or whoever can write to the bucket).
func (s *Server) Pad(n int) { s.mu.Lock(); s.pad = n; s.mu.Unlock() }

// Tasks lists the tasks in creation order.
func (s *Server) Tasks() []Task {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Task
	for _, arn := range s.order {
		out = append(out, *s.tasks[arn])
	}
	return out
}

// Unsigned counts requests refused for lacking a SigV4 signature.
func (s *Server) Unsigned() int { s.mu.Lock(); defer s.mu.Unlock(); return s.unsigned }

func fail(w http.ResponseWriter, code int, kind, msg string) {
	w.Header().Set("X-Amzn-ErrorType", kind)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=") || !strings.Contains(auth, "/braket/aws4_request") ||
		r.Header.Get("X-Amz-Date") == "" {
		s.mu.Lock()
		s.unsigned++
		s.mu.Unlock()
		fail(w, http.StatusForbidden, "UnrecognizedClientException", "Missing Authentication Token")
		return
	}
	path := r.URL.EscapedPath()
	switch {
	case r.Method == http.MethodPost && path == "/quantum-task":
		s.create(w, r)
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/quantum-task/"):
		s.get(w, strings.TrimPrefix(path, "/quantum-task/"))
	case r.Method == http.MethodPut && strings.HasPrefix(path, "/quantum-task/") && strings.HasSuffix(path, "/cancel"):
		s.cancel(w, strings.TrimSuffix(strings.TrimPrefix(path, "/quantum-task/"), "/cancel"))
	default:
		fail(w, http.StatusNotFound, "ResourceNotFoundException", "no route "+r.Method+" "+path)
	}
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Action            string `json:"action"`
		ClientToken       string `json:"clientToken"`
		DeviceArn         string `json:"deviceArn"`
		OutputS3Bucket    string `json:"outputS3Bucket"`
		OutputS3KeyPrefix string `json:"outputS3KeyPrefix"`
		Shots             *int   `json:"shots"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		fail(w, http.StatusBadRequest, "ValidationException", err.Error())
		return
	}
	var act Action
	if err := json.Unmarshal([]byte(in.Action), &act); err != nil || act.Header.Name != "braket.ir.openqasm.program" {
		fail(w, http.StatusBadRequest, "ValidationException", "action is not a braket.ir.openqasm.program")
		return
	}
	if in.ClientToken == "" || in.DeviceArn == "" || in.OutputS3Bucket == "" || in.Shots == nil {
		fail(w, http.StatusBadRequest, "ValidationException", "clientToken, deviceArn, outputS3Bucket and shots are required")
		return
	}
	if _, err := qasm.Parse(act.Source); err != nil {
		fail(w, http.StatusBadRequest, "ValidationException", "invalid OpenQASM program: "+err.Error())
		return
	}
	s.mu.Lock()
	id := fmt.Sprintf("fake-%04d", len(s.order)+1)
	arn := "arn:aws:braket:us-east-1:000000000000:quantum-task/" + id
	s.tasks[arn] = &Task{ARN: arn, Device: in.DeviceArn, Bucket: in.OutputS3Bucket,
		Prefix: strings.Trim(in.OutputS3KeyPrefix+"/"+id, "/"), Status: "CREATED", Shots: *in.Shots, Action: act}
	s.order = append(s.order, arn)
	s.mu.Unlock()
	json.NewEncoder(w).Encode(map[string]string{"quantumTaskArn": arn})
}

func (s *Server) task(w http.ResponseWriter, escaped string) *Task {
	arn, err := url.PathUnescape(escaped)
	if err == nil {
		if t, ok := s.tasks[arn]; ok {
			return t
		}
	}
	fail(w, http.StatusNotFound, "ResourceNotFoundException", "no quantum task "+escaped)
	return nil
}

func (s *Server) get(w http.ResponseWriter, escaped string) {
	s.mu.Lock()
	if s.badPolls > 0 {
		s.badPolls--
		s.mu.Unlock()
		w.Header().Set("X-Amzn-Errortype", "ServiceUnavailableException")
		http.Error(w, `{"message":"try again"}`, http.StatusServiceUnavailable)
		return
	}
	t := s.task(w, escaped)
	if t == nil {
		s.mu.Unlock()
		return
	}
	switch t.Status {
	case "CREATED":
		t.Status = "QUEUED"
	case "QUEUED":
		if !s.hold {
			t.Status = "RUNNING"
		}
	case "RUNNING":
		if s.failWith != "" {
			t.Status, t.FailureReason = "FAILED", s.failWith
		} else if err := s.complete(t); err != nil {
			t.Status, t.FailureReason = "FAILED", err.Error()
		} else {
			t.Status = "COMPLETED"
		}
	case "CANCELLING":
		t.Status = "CANCELLED"
	}
	out := map[string]any{"quantumTaskArn": t.ARN, "status": t.Status, "deviceArn": t.Device, "shots": t.Shots,
		"outputS3Bucket": t.Bucket, "outputS3Directory": t.Prefix, "createdAt": time.Now().UTC().Format(time.RFC3339),
		"deviceParameters": "{}"}
	if t.FailureReason != "" {
		out["failureReason"] = t.FailureReason
	}
	s.mu.Unlock()
	json.NewEncoder(w).Encode(out)
}

func (s *Server) cancel(w http.ResponseWriter, escaped string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.task(w, escaped)
	if t == nil {
		return
	}
	t.Cancelled = true
	if t.Status == "CREATED" || t.Status == "QUEUED" || t.Status == "RUNNING" {
		t.Status = "CANCELLING"
	}
	json.NewEncoder(w).Encode(map[string]string{"quantumTaskArn": t.ARN, "cancellationStatus": t.Status})
}

// complete simulates the task and writes its results.json, as Braket's simulators do: per-shot measurements
// of the measured qubits (all, if the program measures none), and the values of the requested result types.
func (s *Server) complete(t *Task) error {
	prog, err := qasm.Parse(t.Action.Source)
	if err != nil {
		return err
	}
	ops, err := prog.Bind(t.Action.Inputs)
	if err != nil {
		return err
	}
	st, err := qsim.New(prog.NumQubits)
	if err != nil {
		return err
	}
	if err := st.Run(context.Background(), ops); err != nil {
		return err
	}
	tr := circuit.TaskResult{
		Header: circuit.SchemaHeader{Name: circuit.ResultsSchema, Version: "1"},
		TaskMetadata: circuit.TaskMetadata{Header: circuit.SchemaHeader{Name: "braket.task_result.task_metadata", Version: "1"},
			ID: t.ARN, Shots: t.Shots, DeviceID: t.Device, Status: "COMPLETED",
			CreatedAt: time.Now().UTC().Format(time.RFC3339), EndedAt: time.Now().UTC().Format(time.RFC3339)},
	}
	tr.AdditionalMetadata, _ = json.Marshal(map[string]any{"action": t.Action, "simulatorMetadata": map[string]any{
		"braketSchemaHeader": circuit.SchemaHeader{Name: "braket.task_result.simulator_metadata", Version: "1"}, "executionDuration": 1},
		"padding": strings.Repeat(" ", s.pad)})
	all := make([]int, prog.NumQubits)
	for q := range all {
		all[q] = q
	}
	if t.Shots > 0 {
		tr.MeasuredQubits = prog.Measured
		if len(tr.MeasuredQubits) == 0 {
			tr.MeasuredQubits = all
		}
		m := len(tr.MeasuredQubits)
		counts, _ := qsim.Sample(context.Background(), st.Probabilities(tr.MeasuredQubits), t.Shots, m, rand.New(rand.NewPCG(uint64(len(s.order)), 1)))
		for bits, n := range counts {
			shot := make([]int8, m)
			for j := range shot {
				shot[j] = int8(bits[j] - '0')
			}
			for range n {
				tr.Measurements = append(tr.Measurements, shot)
			}
		}
	}
	for _, rt := range prog.Results {
		var v circuit.ResultTypeValue
		v.Type.Type = rt.Type
		switch rt.Type {
		case "expectation":
			for _, p := range rt.Observable {
				v.Type.Observable = append(v.Type.Observable, strings.ToLower(string(p.Op)))
				v.Type.Targets = append(v.Type.Targets, p.Qubit)
			}
			if len(rt.Observable) == 0 {
				v.Type.Observable, v.Type.Targets = []string{"i"}, []int{0}
			}
			e, err := st.Expectation(rt.Observable)
			if err != nil {
				return err
			}
			v.Value, _ = json.Marshal(e)
		case "probability":
			v.Type.Targets = rt.Qubits
			qs := rt.Qubits
			if len(qs) == 0 {
				qs = all
			}
			v.Value, _ = json.Marshal(st.Probabilities(qs))
		}
		tr.ResultTypes = append(tr.ResultTypes, v)
	}
	if t.Shots == 0 && len(tr.ResultTypes) == 0 {
		return fmt.Errorf("a task with 0 shots needs result types")
	}
	body, err := json.Marshal(tr)
	if err != nil {
		return err
	}
	store := *s.s3
	store.Bucket, store.Prefix = t.Bucket, t.Prefix
	return store.Put(context.Background(), "results.json", strings.NewReader(string(body)))
}
