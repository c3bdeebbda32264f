package redisq

import (
	"fmt"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"github.com/google/uuid"

	"github.com/govalent/govalent/executors"
)

// Chunks: tiny tasks cost more in Redis bookkeeping (a hash, a lease, a stream field each) than in running them,
// so the dispatcher's executor packs consecutive tasks of an electron that has been quick so far into one queued
// task, a chunk, whose Args are its members' tasks. A worker runs the members as separate tasks (each can be
// cancelled, each has its own outcome) and completes the chunk once with all their outcomes. The chunk is the
// unit of hand-off: if its worker dies, all of its members run again elsewhere.
const (
	chunkPrefix = "chunk/"
)

// Chunking limits: members must have averaged under chunkShort, a chunk holds at most chunkMax of them and
// about chunkBudget of expected work, so that chunks still spread over the workers.
const (
	chunkShort  = time.Millisecond
	chunkMax    = 64
	chunkBudget = 2 * time.Millisecond
)

func isChunk(taskID string) bool { return strings.HasPrefix(taskID, chunkPrefix) }

// newChunk packs members (same program and queue) into one task.
func newChunk(members []*executors.Task) (*executors.Task, error) {
	// Its members share their program, and so its native binaries, which the chunk names too so that the
	// executor stores them and Enqueue checks them.
	c := &executors.Task{ID: chunkPrefix + uuid.NewString(), Kind: executors.KindChunk, ProgramHash: members[0].ProgramHash, Program: members[0].Program,
		Binaries: members[0].Binaries, Queue: members[0].Queue, Args: make([][]byte, len(members))}
	for i, m := range members {
		b, err := json.Marshal(m)
		if err != nil {
			return nil, &EncodeError{TaskID: m.ID, Err: err}
		}
		c.Args[i] = b
	}
	return c, nil
}

// chunkMembers unpacks a chunk's tasks.
func chunkMembers(c *executors.Task) ([]*executors.Task, error) {
	members := make([]*executors.Task, len(c.Args))
	for i, raw := range c.Args {
		members[i] = new(executors.Task)
		if err := json.Unmarshal(raw, members[i]); err != nil {
			return nil, fmt.Errorf("redisq: undecodable member %d of %s: %w", i, c.ID, err)
		}
	}
	return members, nil
}

// memberOutcome is one member's outcome inside a chunk's.
type memberOutcome struct {
	ID      string            `json:"id"`
	Outcome executors.Outcome `json:"outcome"`
}

// chunkOutcome is a chunk's outcome: its members' outcomes as the Output, spanning their times.
func chunkOutcome(members []memberOutcome) (executors.Outcome, error) {
	out, err := json.Marshal(members)
	if err != nil {
		return executors.Outcome{}, err
	}
	oc := executors.Outcome{Output: out}
	for _, m := range members {
		if oc.Start.IsZero() || m.Outcome.Start.Before(oc.Start) {
			oc.Start = m.Outcome.Start
		}
		if m.Outcome.End.After(oc.End) {
			oc.End = m.Outcome.End
		}
	}
	return oc, nil
}

// memberOutcomes unpacks a chunk's outcome. A chunk that failed as a whole (its payload could not be read) or
// was cancelled as a whole gives each member that same outcome.
func memberOutcomes(oc executors.Outcome, memberIDs []string) []memberOutcome {
	var members []memberOutcome
	if oc.Error == "" && !oc.Cancelled {
		if err := json.Unmarshal(oc.Output, &members); err == nil {
			return members
		}
		oc = executors.Outcome{Error: "redisq: undecodable chunk outcome", Start: oc.Start, End: oc.End}
	}
	for _, id := range memberIDs {
		members = append(members, memberOutcome{ID: id, Outcome: oc})
	}
	return members
}

// chunkable tells how many tasks of t's electron may share a chunk (1: t goes alone).
func chunkable(r executors.RunTimes, t *executors.Task) int {
	est, ok := r.Estimate(t)
	if !ok || est >= chunkShort || t.Kind != executors.KindElectron || t.TimeLimit > 0 {
		return 1
	}
	return min(chunkMax, max(1, int(chunkBudget/max(est, time.Microsecond))))
}

// plan packs batch into what to queue: runs of consecutive tasks of one quick electron become chunks.
func plan(r executors.RunTimes, batch []*executors.Task) (units []*executors.Task, chunks map[string][]string) {
	for i := 0; i < len(batch); {
		t := batch[i]
		n := chunkable(r, t)
		j := i + 1
		for j < len(batch) && j-i < n && executors.RunKey(batch[j]) == executors.RunKey(t) && batch[j].Queue == t.Queue &&
			batch[j].Kind == t.Kind && batch[j].TimeLimit == t.TimeLimit {
			j++
		}
		if j-i == 1 {
			units = append(units, t)
			i = j
			continue
		}
		c, err := newChunk(batch[i:j])
		if err != nil { // sent one by one instead: the task that cannot be encoded fails alone
			units = append(units, batch[i:j]...)
			i = j
			continue
		}
		if chunks == nil {
			chunks = map[string][]string{}
		}
		for _, m := range batch[i:j] {
			chunks[c.ID] = append(chunks[c.ID], m.ID)
		}
		units = append(units, c)
		i = j
	}
	return units, chunks
}

// memberIDs reads the ids of a chunk's members, without decoding the rest of them.
func memberIDs(c *executors.Task) ([]string, error) {
	ids := make([]string, len(c.Args))
	for i, raw := range c.Args {
		var m struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("redisq: undecodable member %d of %s: %w", i, c.ID, err)
		}
		ids[i] = m.ID
	}
	return ids, nil
}
