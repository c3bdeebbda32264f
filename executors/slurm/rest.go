package slurm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"strconv"
	"strings"
)

// restVersion is the slurmrestd OpenAPI version the executor speaks: Slurm 22.05 serves v0.0.36 to v0.0.38.
const restVersion = "v0.0.38"

// restClient reaches slurmrestd (the rest setting): it submits, follows and cancels jobs in place of sbatch,
// squeue and scancel.
type restClient struct {
	base  string // "http://host:port", or "http://slurmrestd" over a unix socket
	http  *http.Client
	user  string // X-SLURM-USER-NAME, with a token
	token string // a JSON web token (auth/jwt), or "" (a unix socket with rest_auth/local)
}

// newRESTClient reads the rest setting: "http://host:port", "https://host:port" or "unix:///path". The token is
// the token setting, or else $SLURM_JWT.
func newRESTClient(name, addr, token, userName string) (*restClient, error) {
	u, err := url.Parse(addr)
	if err != nil {
		return nil, fmt.Errorf("executor %s setting rest: %w", name, err)
	}
	c := &restClient{token: token, user: userName}
	switch {
	case u.Scheme == "unix" && u.Host == "" && u.Path != "":
		path := u.Path
		c.base = "http://slurmrestd"
		c.http = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		}}}
	case (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && (u.Path == "" || u.Path == "/") && u.RawQuery == "" && u.User == nil:
		c.base = u.Scheme + "://" + u.Host
		c.http = &http.Client{}
	default:
		return nil, fmt.Errorf("executor %s setting rest: want \"http://host:port\", \"https://host:port\" or \"unix:///path/to/socket\", not %q", name, addr)
	}
	if c.token == "" {
		c.token = os.Getenv("SLURM_JWT")
	}
	if c.token != "" && c.user == "" {
		me, err := user.Current()
		if err != nil {
			return nil, fmt.Errorf("executor %s: the user the token is for: %w (set rest_user)", name, err)
		}
		c.user = me.Username
	}
	return c, nil
}

// restError is what slurmrestd said of a request it refused, or how the request failed.
type restError struct{ msg string }

func (e *restError) Error() string { return "slurmrestd: " + e.msg }

// do sends a request and decodes the answer into out; Slurm's errors in the answer are an error.
func (c *restClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+"/slurm/"+restVersion+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("X-SLURM-USER-NAME", c.user)
		req.Header.Set("X-SLURM-USER-TOKEN", c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return &restError{err.Error()}
	}
	defer resp.Body.Close()
	// GET /jobs lists every job the controller holds: a busy cluster's answer runs to tens of MB.
	data, err := io.ReadAll(io.LimitReader(resp.Body, 512<<20))
	if err != nil {
		return &restError{fmt.Sprintf("%s %s: reading the answer: %v", method, path, err)}
	}
	var answer struct {
		Errors []struct {
			Error       string `json:"error"`
			Description string `json:"description"`
			Number      int    `json:"error_number"`
		} `json:"errors"`
	}
	jerr := json.Unmarshal(data, &answer)
	var msgs []string
	for _, e := range answer.Errors {
		msgs = append(msgs, strings.TrimSpace(e.Error+" "+e.Description))
	}
	if resp.StatusCode != http.StatusOK || len(msgs) > 0 {
		msg := strings.Join(msgs, "; ")
		if msg == "" {
			msg = strings.TrimSpace(string(data[:min(len(data), 500)]))
		}
		// slurmctld drops the connection of a wrong or expired token: slurmrestd says "Zero Bytes were
		// transmitted or received".
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden || strings.Contains(msg, "Zero Bytes were transmitted") {
			if c.token == "" {
				msg += " (no token: set the token setting or $SLURM_JWT, from scontrol token)"
			} else {
				msg += " (is the token valid? the token setting or $SLURM_JWT, from scontrol token, for " + c.user + ")"
			}
		}
		return &restError{fmt.Sprintf("%s %s: %s: %s", method, path, resp.Status, msg)}
	}
	if jerr != nil {
		return &restError{fmt.Sprintf("%s %s: unreadable answer: %v", method, path, jerr)}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return &restError{fmt.Sprintf("%s %s: unreadable answer: %v", method, path, err)}
		}
	}
	return nil
}

// restJob is the job description of a batch's options (jobOptions' flags); sbatch options other than those the
// executor makes have no description here.
func restJob(opts []string) (map[string]any, error) {
	job := map[string]any{}
	for _, o := range opts {
		flag, v, _ := strings.Cut(o, "=")
		switch flag {
		case "--partition":
			job["partition"] = v
		case "--account":
			job["account"] = v
		case "--qos":
			job["qos"] = v
		case "--time":
			m, err := minutes(v)
			if err != nil {
				return nil, fmt.Errorf("setting time: %w", err)
			}
			job["time_limit"] = m
		case "--cpus-per-task":
			n, _ := strconv.Atoi(v) // jobOptions wrote a number
			job["cpus_per_task"] = n
		case "--mem":
			mib, err := mebibytes(v)
			if err != nil {
				return nil, fmt.Errorf("setting memory: %w", err)
			}
			job["memory_per_node"] = mib
		default:
			what := "sbatch_options " + o
			if flag == "--gpus" {
				what = "gpus"
			}
			return nil, fmt.Errorf("setting %s is not supported through slurmrestd (the rest setting)", what)
		}
	}
	return job, nil
}

// minutes reads a Slurm time ("30", "30:00", "2:00:00", "1-12", "1-12:30", "1-12:30:00") as whole minutes,
// seconds rounded up.
func minutes(s string) (int, error) {
	days, rest, hasDays := strings.Cut(s, "-")
	if !hasDays {
		days, rest = "0", s
	}
	var nums []int
	for _, p := range strings.Split(rest, ":") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a Slurm time (\"30\", \"2:00:00\", \"1-00:00:00\")", s)
		}
		nums = append(nums, n)
	}
	d, err := strconv.Atoi(days)
	if err != nil || d < 0 || len(nums) > 3 {
		return 0, fmt.Errorf("%q is not a Slurm time (\"30\", \"2:00:00\", \"1-00:00:00\")", s)
	}
	var h, m, sec int
	switch {
	case hasDays && len(nums) == 1:
		h = nums[0]
	case hasDays && len(nums) == 2:
		h, m = nums[0], nums[1]
	case len(nums) == 1:
		m = nums[0]
	case len(nums) == 2:
		m, sec = nums[0], nums[1]
	default:
		h, m, sec = nums[0], nums[1], nums[2]
	}
	return d*24*60 + h*60 + m + (sec+59)/60, nil
}

// mebibytes reads a Slurm memory size ("4096", "4G", "512M"; "K" rounds up) as MiB.
func mebibytes(s string) (int, error) {
	num, kib := s, 1<<10 // a bare number is MiB
	if n := len(s); n > 0 {
		if i := strings.IndexByte("KMGT", s[n-1]&^0x20); i >= 0 {
			num, kib = s[:n-1], 1<<(10*i)
		}
	}
	n, err := strconv.Atoi(num)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a memory size (\"4096\", \"4G\")", s)
	}
	return (n*kib + 1<<10 - 1) >> 10, nil
}

// submit submits a batch's job script; count > 1 makes it an array of that many tasks.
func (c *restClient) submit(ctx context.Context, job map[string]any, script string, count int) (string, error) {
	if count > 1 {
		job["array"] = fmt.Sprintf("0-%d", count-1)
	}
	// slurmrestd wants an environment (sbatch would pass the dispatcher's): PATH alone, the runner being named
	// by its absolute path; the prologue sets up more.
	job["environment"] = map[string]string{"PATH": "/usr/local/bin:/usr/bin:/bin"}
	var answer struct {
		JobID *int64 `json:"job_id"`
	}
	if err := c.do(ctx, http.MethodPost, "/job/submit", map[string]any{"script": script, "job": job}, &answer); err != nil {
		return "", err
	}
	if answer.JobID == nil || *answer.JobID <= 0 {
		return "", &restError{"POST /job/submit: the answer holds no job id"}
	}
	return strconv.FormatInt(*answer.JobID, 10), nil
}

// restJobInfo is what slurmrestd says of a job (or of an array's tasks not yet started: array_task_string).
type restJobInfo struct {
	JobID       int64  `json:"job_id"`
	ArrayJobID  int64  `json:"array_job_id"`
	ArrayTaskID *int64 `json:"array_task_id"`
	ArrayTasks  string `json:"array_task_string"`
	State       string `json:"job_state"`
	Reason      string `json:"state_reason"`
	Name        string `json:"name"`
}

// jobs lists the jobs the controller holds (ended ones too, for MinJobAge).
func (c *restClient) jobs(ctx context.Context) ([]restJobInfo, error) {
	var answer struct {
		Jobs []restJobInfo `json:"jobs"`
	}
	err := c.do(ctx, http.MethodGet, "/jobs", nil, &answer)
	return answer.Jobs, err
}

// states are the states of the jobs of ids (job ids, of arrays or not) by squeue's keys ("123", "123_4").
func (c *restClient) states(ctx context.Context, ids map[string]bool) (map[string]jobState, error) {
	jobs, err := c.jobs(ctx)
	if err != nil {
		return nil, err
	}
	states := map[string]jobState{}
	for _, j := range jobs {
		st := jobState{state: j.State, reason: j.Reason}
		if j.ArrayJobID == 0 {
			if id := strconv.FormatInt(j.JobID, 10); ids[id] {
				states[id] = st
			}
			continue
		}
		id := strconv.FormatInt(j.ArrayJobID, 10)
		if !ids[id] {
			continue
		}
		// The array's tasks not yet started are one record, their indexes in array_task_string ("3-11,13%4").
		if j.ArrayTasks != "" {
			tasks, _, _ := strings.Cut(j.ArrayTasks, "%")
			for _, r := range strings.Split(tasks, ",") {
				lo, hi, isRange := strings.Cut(r, "-")
				if !isRange {
					hi = lo
				}
				a, err1 := strconv.Atoi(lo)
				b, err2 := strconv.Atoi(hi)
				if err1 != nil || err2 != nil {
					return nil, &restError{fmt.Sprintf("job %s: unreadable array_task_string %q", id, j.ArrayTasks)}
				}
				for i := a; i <= b; i++ {
					states[jobKey(id, i, 2)] = st
				}
			}
			continue
		}
		if j.ArrayTaskID != nil {
			states[jobKey(id, int(*j.ArrayTaskID), 2)] = st
		}
	}
	return states, nil
}

// cancel cancels a job ("123", or an array task "123_4").
func (c *restClient) cancel(ctx context.Context, job string) error {
	return c.do(ctx, http.MethodDelete, "/job/"+url.PathEscape(job), nil, nil)
}

// byName is the job id of the job named name, or "".
func (c *restClient) byName(ctx context.Context, name string) (string, error) {
	jobs, err := c.jobs(ctx)
	if err != nil {
		return "", err
	}
	for _, j := range jobs {
		if j.Name == name {
			if j.ArrayJobID != 0 {
				return strconv.FormatInt(j.ArrayJobID, 10), nil
			}
			return strconv.FormatInt(j.JobID, 10), nil
		}
	}
	return "", nil
}
