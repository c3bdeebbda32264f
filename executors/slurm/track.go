package slurm

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/govalent/govalent/executors"
)

// endStates are the states of jobs that have ended (squeue --states=all shows them while the controller keeps
// them, MinJobAge).
var endStates = map[string]bool{"COMPLETED": true, "FAILED": true, "TIMEOUT": true, "CANCELLED": true, "OUT_OF_MEMORY": true,
	"NODE_FAIL": true, "BOOT_FAIL": true, "DEADLINE": true, "PREEMPTED": true, "SPECIAL_EXIT": true, "REVOKED": true}

// maxPollErrors failed squeue calls in a row give up on the jobs (with the default backoff, about two minutes).
const maxPollErrors = 10

// outcomeWait is how long a job that COMPLETED may take to show its outcome file: on a network file system a
// file another machine wrote may be seen late.
const outcomeWait = 10 * time.Second

// jobState is what squeue says of a job.
type jobState struct{ state, reason string }

// poll follows the submitted jobs with one squeue call per round, every poll while something changes and
// backing off to max_poll while nothing does, until Close.
func (e *Executor) poll() {
	defer e.wg.Done()
	poll := time.Duration(e.cfg.Poll)
	wait := poll
	timer := time.NewTimer(wait)
	defer timer.Stop()
	next := time.Now().Add(wait)
	failures := 0
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-e.wake:
			// A new job: poll within poll, but no later than already planned (jobs coming faster than poll
			// must not put the round off).
			wait = poll
			if soon := time.Now().Add(poll); soon.Before(next) {
				next = soon
				timer.Reset(poll)
			}
			continue
		case <-timer.C:
		}
		changed, err := e.round()
		switch {
		case err != nil:
			if e.ctx.Err() != nil {
				return
			}
			if failures++; failures >= maxPollErrors {
				e.lostTrack(fmt.Errorf("%d squeue calls in a row failed: %w", failures, err))
				failures = 0
			} else {
				e.log.Warn("squeue failed", "executor", e.name, "err", err)
			}
			wait = min(2*wait, time.Duration(e.cfg.MaxPoll))
		case changed:
			failures, wait = 0, poll
		default:
			failures, wait = 0, min(2*wait, time.Duration(e.cfg.MaxPoll))
		}
		next = time.Now().Add(wait)
		timer.Reset(wait)
	}
}

// round asks squeue about every tracked job at once and reports those that ended; changed tells whether any
// job's state moved.
func (e *Executor) round() (changed bool, err error) {
	e.mu.Lock()
	ids := map[string]bool{}
	watched := make([]*entry, 0, len(e.tracked))
	for key, en := range e.tracked {
		id, _, _ := strings.Cut(key, "_")
		ids[id] = true
		watched = append(watched, en)
	}
	e.mu.Unlock()
	if len(watched) == 0 {
		return false, nil
	}
	states, err := e.jobStates(ids)
	if err != nil {
		return false, err
	}
	var ending []*entry
	var paths []string
	for _, en := range watched {
		st, known := states[en.job]
		if known && !endStates[st.state] {
			e.mu.Lock()
			if en.state != st.state {
				en.state, changed = st.state, true
			}
			e.mu.Unlock()
			continue
		}
		ending = append(ending, en)
		paths = append(paths, filepath.Join(en.dir, outcomeName))
	}
	if len(ending) == 0 {
		return changed, nil
	}
	// The outcomes of the jobs that ended, in one read (one SSH session on a login node).
	ctx, cancel := e.bounded()
	data, errs, err := e.site.readAll(ctx, paths)
	cancel()
	if err != nil {
		if e.client == nil {
			return changed, err
		}
		// The login node did not answer: ask again next round.
		e.log.Warn("reading the outcomes of ended jobs on the login node failed", "executor", e.name, "err", err)
		return changed, nil
	}
	for i, en := range ending {
		st, known := states[en.job]
		oc, err := decodeOutcome(paths[i], data[i], errs[i])
		if e.conclude(en, st, known, oc, err) {
			changed = true
		}
	}
	return changed, nil
}

// jobStates asks squeue, or slurmrestd, about the jobs of ids (job ids) and their array tasks, by squeue's
// keys ("123", "123_4"); a job missing is one the controller no longer knows.
func (e *Executor) jobStates(ids map[string]bool) (map[string]jobState, error) {
	if e.rest != nil {
		ctx, cancel := e.bounded()
		defer cancel()
		return e.rest.states(ctx, ids)
	}
	out, err := e.command("squeue", "--noheader", "--states=all", "--array", "--format=%i %T %r", "--jobs="+strings.Join(sortedKeys(ids), ","))
	if err != nil {
		// Every job listed is unknown to the controller (they ended over MinJobAge ago): none is listed.
		if ce, ok := err.(*commandError); !ok || !strings.Contains(ce.stderr, "Invalid job id") {
			return nil, err
		}
		out = ""
	}
	states := map[string]jobState{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 2 {
			states[f[0]] = jobState{state: f[1], reason: strings.Join(f[2:], " ")}
		}
	}
	return states, nil
}

// conclude reports a job that has ended (or that the controller no longer knows): its outcome (oc, or the error
// reading it), or why it has none. It tells whether it reported; a COMPLETED job's outcome may take outcomeWait
// to be seen.
func (e *Executor) conclude(en *entry, st jobState, known bool, oc executors.Outcome, err error) bool {
	if err == nil {
		e.finishJob(en, oc)
		return true
	}
	if errors.Is(err, fs.ErrNotExist) && known && st.state == "COMPLETED" {
		e.mu.Lock()
		if en.ended.IsZero() {
			en.ended = time.Now()
		}
		waiting := time.Since(en.ended) < outcomeWait
		e.mu.Unlock()
		if waiting {
			return false
		}
	}
	msg := fmt.Sprintf("slurm job %s", en.job)
	kind, retryable := executors.ErrorCrash, false
	switch {
	case !errors.Is(err, fs.ErrNotExist):
		msg += fmt.Sprintf(" ended with an unreadable outcome: %v", err)
	case !known:
		msg += " is no longer known to Slurm and left no outcome"
	default:
		msg += " ended " + st.state
		if st.reason != "" && st.reason != "None" {
			msg += " (" + st.reason + ")"
		}
		msg += " without an outcome"
		switch st.state {
		case "TIMEOUT", "DEADLINE":
			kind = executors.ErrorTimeLimit
			msg += ": it ran past its --time"
		case "OUT_OF_MEMORY":
			msg += ": it ran out of memory (see the memory setting)"
		case "NODE_FAIL", "BOOT_FAIL", "PREEMPTED":
			retryable = true
		}
	}
	if tail := e.logTail(en.log); tail != "" {
		msg += "; the end of its log " + en.log + ":\n" + tail
	}
	e.finishJob(en, executors.Outcome{Error: msg, ErrorKind: kind, Retryable: retryable, Start: en.start, End: time.Now()})
	return true
}

// finishJob reports a tracked job's task, unless it was cancelled meanwhile.
func (e *Executor) finishJob(en *entry, oc executors.Outcome) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tracked[en.job] == en {
		delete(e.tracked, en.job)
	}
	e.report(en, oc)
}

// lostTrack fails every tracked task when squeue has stopped answering.
func (e *Executor) lostTrack(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for key, en := range e.tracked {
		delete(e.tracked, key)
		e.report(en, failure(en.start, fmt.Sprintf("executor %s: lost track of slurm job %s: %v", e.name, key, err), ""))
	}
}

func (e *Executor) readOutcome(path string) (executors.Outcome, error) {
	data, err := e.read(path)
	return decodeOutcome(path, data, err)
}

// decodeOutcome decodes the outcome file at path, read as data or not (err).
func decodeOutcome(path string, data []byte, err error) (executors.Outcome, error) {
	var oc executors.Outcome
	if err != nil {
		return oc, err
	}
	if err := json.Unmarshal(data, &oc); err != nil {
		return oc, fmt.Errorf("decoding %s: %w", path, err)
	}
	return oc, nil
}

// logTail is the end of a job's log, for the error of a job that left no outcome.
func (e *Executor) logTail(path string) string {
	ctx, cancel := e.bounded()
	defer cancel()
	return strings.TrimSpace(e.site.tail(ctx, path, 2000))
}
