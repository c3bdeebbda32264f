// Package redisq is the core of the Redis-queued worker pool: a reliable task queue on a single Redis server.
//
// Every task is in exactly one place: queued (its id on the list of its queue), leased (its id in the lease
// ZSET, scored by expiry, with a token naming this hand-off), or done (its outcome appended to the results
// stream, its payload deleted). Each state change that touches several keys is one Lua script, so it is
// atomic; lease expiries use the Redis server's clock (TIME), so worker clocks don't matter. A task that went
// into a chunk is found through the member index, so that a dispatcher resubmitting it after a restart finds it
// wherever it is (Locate).
//
// Redis is not trusted: tasks, outcomes and cancellations are signed with HMAC-SHA256 under a key that the
// dispatcher and its workers share (Options.Key). Workers refuse unsigned tasks, the dispatcher refuses
// unsigned outcomes, and a worker runs a program or a native binary (native.go) only if it matches the hash its
// signed task names.
//
// Keys, under a prefix P (default "govalent"):
//
//	P:q:<queue>     LIST of queued task ids (Dequeue pops the head, Recover pushes back at the head)
//	P:queues        SET of queue names ever used (for Depths)
//	P:t:<task id>   HASH: state (queued|leased|done|refused), queue, payload, sig, token, worker, attempt,
//	                cancelled, csig, members (a chunk's member ids), sid (the stream entry of its completion);
//	                once done only a tombstone is left (no payload), expiring after ResultRetention, so a
//	                late Complete or a repeated Enqueue of the same id changes nothing
//	P:m:<task id>   STRING: the chunk a task went in; expires with the chunk's tombstone
//	P:leases        ZSET task id -> lease expiry (server unix ms)
//	P:seq           counter for lease tokens
//	P:results       STREAM of completions, trimmed by MINID to ResultRetention: an entry {t1, w1, k1, o1, s1,
//	                t2, ...} per completed batch (task id, worker, token, outcome, signature), or
//	                {task, worker, cancel} for a cancellation (cancel is its signature)
//	P:prog:<hash>   STRING program source, SET NX, expiring after ProgramTTL (refreshed on use)
//	P:bin:<hash>    STRING a native worker binary (sha256 <hash>), expiring after BinaryTTL (refreshed on use);
//	                written whole under P:binup:<random> first, then renamed, so that it is never seen in part
//	P:platforms     ZSET platform ("linux/amd64") -> expiry of the last heartbeat naming it (server unix ms)
//	P:w:<id>        HASH worker info + last beat, expiring after 3 leases; P:workers SET of ids
//	P:epoch         STRING naming this dataset: a change means Redis lost its data
//	P:cancel        pub/sub channel announcing cancelled leased tasks (message = "task id signature")
//	P:work          pub/sub channel announcing queues that got tasks (message = queue name)
package redisq

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/results"
)

// DefaultQueue is the queue of a task whose Queue is "".
const DefaultQueue = "default"

// enqueueChunk bounds the tasks per Enqueue script call, so that one huge batch does not block Redis for long.
// Each chunk is atomic; Enqueue is idempotent per task id, so a failed batch can simply be retried.
const enqueueChunk = 1000

// ackChunk bounds the stream ids per Ack script call.
const ackChunk = 1000

// recoverLimit bounds the expired leases one Recover script call handles (Recover loops until none are left).
const recoverLimit = 1000

// Options configures a Queue.
type Options struct {
	Prefix          string        // key prefix; default "govalent"
	Lease           time.Duration // lease length; default 3s. Workers should Extend every Lease/3 or so.
	ResultRetention time.Duration // how long completions and done-task tombstones stay; default 1h
	ProgramTTL      time.Duration // expiry of stored programs, refreshed by PutProgram and Enqueue; default 24h
	// BinaryTTL is the expiry of stored native binaries, refreshed by PutBinary and Enqueue; default 6h: they
	// are large (5-10 MB each, one per program and platform), workers keep the ones they fetched, and a worker
	// that finds one gone runs its task interpreted.
	BinaryTTL time.Duration
	// Key authenticates tasks, outcomes and cancellations (HMAC-SHA256): the dispatcher and its workers share
	// it; whoever merely reaches Redis does not have it. At least 16 bytes; see LoadKey.
	Key    []byte
	Logger *slog.Logger // where refusals are reported; default slog.Default()
}

// Queue is a task queue on one Redis server. It is safe for concurrent use.
type Queue struct {
	rdb     *redis.Client
	opts    Options
	p       string // prefix
	refused atomic.Int64
	// recoverAhead (ms) moves the clock Recover judges leases by ahead of the server's: tests expire a lease by
	// advancing it (advanceRecoverClock) rather than by sleeping past it. Zero outside tests.
	recoverAhead atomic.Int64
}

// MinKeyLen is the shortest key New accepts.
const MinKeyLen = 16

// New wraps rdb.
func New(rdb *redis.Client, opts Options) (*Queue, error) {
	if len(opts.Key) < MinKeyLen {
		return nil, fmt.Errorf("redisq: a key of at least %d bytes is needed to authenticate tasks and outcomes", MinKeyLen)
	}
	if opts.Prefix == "" {
		opts.Prefix = "govalent"
	}
	if opts.Lease <= 0 {
		opts.Lease = 3 * time.Second // a dead worker's task runs again within about 4 s
	}
	if opts.ResultRetention <= 0 {
		opts.ResultRetention = time.Hour
	}
	if opts.ProgramTTL <= 0 {
		opts.ProgramTTL = 24 * time.Hour
	}
	if opts.BinaryTTL <= 0 {
		opts.BinaryTTL = 6 * time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Queue{rdb: rdb, opts: opts, p: opts.Prefix}, nil
}

// Refused counts what this Queue refused because it was not signed with the key: tasks, outcomes and
// cancellations.
func (q *Queue) Refused() int64 { return q.refused.Load() }

// refuse logs and counts one refusal.
func (q *Queue) refuse(what string, args ...any) {
	q.refused.Add(1)
	q.opts.Logger.Warn("refused "+what+": not signed with the key (written to Redis by someone without it, or by a worker with another key)", args...)
}

// mac signs a message made of kind and parts, each length-prefixed so that no two messages sign alike.
func (q *Queue) mac(kind string, parts ...string) string {
	m := hmac.New(sha256.New, q.opts.Key)
	var n [8]byte
	for _, s := range append([]string{kind}, parts...) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		m.Write(n[:])
		m.Write([]byte(s))
	}
	return hex.EncodeToString(m.Sum(nil))
}

func (q *Queue) signed(sig, kind string, parts ...string) bool {
	return hmac.Equal([]byte(sig), []byte(q.mac(kind, parts...)))
}

// Options returns the options in effect (defaults filled in).
func (q *Queue) Options() Options { return q.opts }

func (q *Queue) key(parts ...string) string { return q.p + ":" + strings.Join(parts, ":") }

func ms(d time.Duration) int64 { return d.Milliseconds() }

// Lease is a task handed to a worker. Token identifies this hand-off: only its holder can Complete or Extend.
type Lease struct {
	Task    executors.Task
	Token   string
	Attempt int // 1 for the first hand-off, 2 after one recovery, ...
}

// Completion is one outcome read from the results stream.
type Completion struct {
	StreamID string // the entry holding it; one entry may hold several completions
	TaskID   string
	Worker   string // the worker that completed it ("" for a task cancelled while queued)
	Outcome  executors.Outcome
}

// WorkerInfo describes a live worker.
type WorkerInfo = executors.WorkerInfo

// Lua helper: the server's time in unix milliseconds.
const luaNow = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// Lua helper: finish(p, tk, sid, ret) turns task hash tk into a done tombstone whose completion is stream entry
// sid, expiring after ret ms together with a chunk's member index.
const luaFinish = `
local function finish(p, tk, sid, ret)
  local m = redis.call('HGET', tk, 'members')
  if m then
    for id in string.gmatch(m, '[^\n]+') do
      redis.call('PEXPIRE', p .. ':m:' .. id, ret)
    end
  end
  redis.call('HDEL', tk, 'payload', 'token', 'sig')
  redis.call('HSET', tk, 'state', 'done', 'sid', sid)
  redis.call('PEXPIRE', tk, ret)
end
`

// KEYS[1] queues set. ARGV: prefix, program ttl ms, rerun (1: requeue done tasks too), number of program
// hashes, hashes..., binary ttl ms, number of binary hashes, hashes..., then (id, queue, payload, sig, members)...
// where members are a chunk's member ids joined by "\n" ("" for a task). Returns the ids that were left alone
// because they were done, or an error NOPROG or NOBIN if a program or a binary is not stored (checked before
// anything is written).
var enqueueScript = redis.NewScript(`
local p = ARGV[1]
local ttl = tonumber(ARGV[2])
local rerun = ARGV[3] == '1'
local np = tonumber(ARGV[4])
for i = 1, np do
  if redis.call('PEXPIRE', p .. ':prog:' .. ARGV[4 + i], ttl) == 0 then
    return redis.error_reply('NOPROG ' .. ARGV[4 + i])
  end
end
local b = 5 + np
local bttl, nb = tonumber(ARGV[b]), tonumber(ARGV[b + 1])
for i = b + 2, b + 1 + nb do
  if redis.call('PEXPIRE', p .. ':bin:' .. ARGV[i], bttl) == 0 then
    return redis.error_reply('NOBIN ' .. ARGV[i])
  end
end
local done = {}
local queues = {}
for i = b + 2 + nb, #ARGV, 5 do
  local id, q, members = ARGV[i], ARGV[i + 1], ARGV[i + 4]
  local tk = p .. ':t:' .. id
  local state = redis.call('HGET', tk, 'state')
  if state == 'done' and not rerun then
    done[#done + 1] = id
  elseif not state or state == 'done' or state == 'refused' then
    if state then
      redis.call('DEL', tk)
    end
    redis.call('DEL', p .. ':m:' .. id)
    redis.call('HSET', tk, 'state', 'queued', 'queue', q, 'payload', ARGV[i + 2], 'sig', ARGV[i + 3], 'attempt', 0)
    if members ~= '' then
      redis.call('HSET', tk, 'members', members)
      for m in string.gmatch(members, '[^\n]+') do
        local mk = p .. ':t:' .. m
        local ms = redis.call('HGET', mk, 'state')
        if ms ~= 'queued' and ms ~= 'leased' then
          redis.call('DEL', mk)
        end
        redis.call('SET', p .. ':m:' .. m, id)
      end
    end
    redis.call('RPUSH', p .. ':q:' .. q, id)
    queues[q] = true
  end
end
for q in pairs(queues) do
  redis.call('SADD', KEYS[1], q)
  redis.call('PUBLISH', p .. ':work', q)
end
return done
`)

// KEYS[1] results. ARGV: prefix, ids... For each id a task's or chunk member's place: state (” when Redis holds
// nothing of it), the chunk holding it, its completion's stream id and whether that entry is still in the stream.
var locateScript = redis.NewScript(`
local p = ARGV[1]
local out = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  local chunk = ''
  local v = redis.call('HMGET', p .. ':t:' .. id, 'state', 'sid')
  if not v[1] then
    local c = redis.call('GET', p .. ':m:' .. id)
    if c then
      chunk = c
      v = redis.call('HMGET', p .. ':t:' .. c, 'state', 'sid')
    end
  end
  local sid = v[2] or ''
  local kept = 0
  if v[1] == 'done' and sid ~= '' and #redis.call('XRANGE', KEYS[1], sid, sid) > 0 then
    kept = 1
  end
  out[#out + 1] = v[1] or ''
  out[#out + 1] = chunk
  out[#out + 1] = sid
  out[#out + 1] = kept
end
return out
`)

// KEYS[1] leases. ARGV: prefix, worker, max, lease ms, queues...
// Returns a flat array of (id, token, attempt, payload, sig). One counter value names the whole hand-off; each
// token adds the task's place in it.
var dequeueScript = redis.NewScript(luaNow + `
local p, w = ARGV[1], ARGV[2]
local max = tonumber(ARGV[3])
local exp = now + tonumber(ARGV[4])
local out = {}
local n = 0
local seq = nil
for qi = 5, #ARGV do
  local qk = p .. ':q:' .. ARGV[qi]
  while n < max do
    local ids = redis.call('LPOP', qk, max - n)
    if not ids then break end
    for _, id in ipairs(ids) do
      local tk = p .. ':t:' .. id
      local v = redis.call('HMGET', tk, 'state', 'payload', 'sig')
      if v[1] == 'queued' then
        seq = seq or redis.call('INCR', p .. ':seq')
        n = n + 1
        local tok = w .. '/' .. seq .. '.' .. n
        local att = redis.call('HINCRBY', tk, 'attempt', 1)
        redis.call('HSET', tk, 'state', 'leased', 'token', tok, 'worker', w)
        redis.call('ZADD', KEYS[1], exp, id)
        out[#out + 1] = id
        out[#out + 1] = tok
        out[#out + 1] = att
        out[#out + 1] = v[2]
        out[#out + 1] = v[3] or ''
      end
    end
  end
  if n >= max then break end
end
return out
`)

// KEYS[1] leases. ARGV: prefix, worker, lease ms, then (id, token)... Returns 1 or 0 per lease: extended, or no
// longer held.
var extendScript = redis.NewScript(luaNow + `
local p, w = ARGV[1], ARGV[2]
local exp = now + tonumber(ARGV[3])
local res = {}
for i = 4, #ARGV, 2 do
  local v = redis.call('HMGET', p .. ':t:' .. ARGV[i], 'state', 'token', 'worker')
  if v[1] == 'leased' and v[2] == ARGV[i + 1] and v[3] == w then
    redis.call('ZADD', KEYS[1], 'XX', exp, ARGV[i])
    res[#res + 1] = 1
  else
    res[#res + 1] = 0
  end
end
return res
`)

// KEYS[1] leases. ARGV: prefix, retention ms, then (id, token)... Takes back leases whose task this worker
// refused (its signature did not verify): the task is left as a 'refused' tombstone, with no completion, for
// its dispatcher to queue again (signed) or for nobody, if it was forged.
var refuseScript = redis.NewScript(`
local p = ARGV[1]
local ret = tonumber(ARGV[2])
for i = 3, #ARGV, 2 do
  local tk = p .. ':t:' .. ARGV[i]
  local v = redis.call('HMGET', tk, 'state', 'token')
  if v[1] == 'leased' and v[2] == ARGV[i + 1] then
    redis.call('ZREM', KEYS[1], ARGV[i])
    redis.call('HDEL', tk, 'payload', 'token', 'sig')
    redis.call('HSET', tk, 'state', 'refused')
    redis.call('PEXPIRE', tk, ret)
    for m in string.gmatch(redis.call('HGET', tk, 'members') or '', '[^\n]+') do
      redis.call('PEXPIRE', p .. ':m:' .. m, ret)
    end
  end
end
return 0
`)

// KEYS[1] leases, KEYS[2] results. ARGV: prefix, retention ms, then (id, token, outcome, sig)...
// Returns 1 or 0 per task. The accepted completions go into one stream entry (fields t1, w1, k1, o1, s1, t2, ...:
// task, worker, token, outcome, signature).
var completeScript = redis.NewScript(luaNow + luaFinish + `
local p = ARGV[1]
local ret = tonumber(ARGV[2])
local res = {}
local entry = {}
local accepted = {}
local n = 0
for i = 3, #ARGV, 4 do
  local id, tok = ARGV[i], ARGV[i + 1]
  local tk = p .. ':t:' .. id
  local v = redis.call('HMGET', tk, 'state', 'token', 'worker')
  if v[1] == 'leased' and v[2] == tok then
    redis.call('ZREM', KEYS[1], id)
    n = n + 1
    accepted[n] = tk
    local k = tostring(n)
    for _, f in ipairs({'t' .. k, id, 'w' .. k, v[3], 'k' .. k, tok, 'o' .. k, ARGV[i + 2], 's' .. k, ARGV[i + 3]}) do
      entry[#entry + 1] = f
    end
    res[#res + 1] = 1
  else
    res[#res + 1] = 0
  end
end
if n > 0 then
  local sid = redis.call('XADD', KEYS[2], 'MINID', string.format('%d', now - ret), '*', unpack(entry))
  for _, tk in ipairs(accepted) do
    finish(p, tk, sid, ret)
  end
end
return res
`)

// KEYS[1] leases, KEYS[2] results. ARGV: prefix, retention ms, limit.
// Requeues (at the head) expired leases; a cancelled one is completed as cancelled instead, with the signed
// cancellation its dispatcher left. Returns {requeued, expired leases handled}.
var recoverScript = redis.NewScript(luaNow + luaFinish + `
now = now + tonumber(ARGV[4])
local p = ARGV[1]
local ret = tonumber(ARGV[2])
local minid = string.format('%d', now - ret)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local n = 0
local queues = {}
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  local tk = p .. ':t:' .. id
  local v = redis.call('HMGET', tk, 'state', 'queue', 'cancelled', 'worker', 'csig')
  if v[1] == 'leased' then
    if v[3] == '1' then
      local sid = redis.call('XADD', KEYS[2], 'MINID', minid, '*', 'task', id, 'worker', v[4], 'cancel', v[5] or '')
      finish(p, tk, sid, ret)
    else
      redis.call('HSET', tk, 'state', 'queued')
      redis.call('HDEL', tk, 'token', 'worker')
      redis.call('LPUSH', p .. ':q:' .. v[2], id)
      queues[v[2]] = true
      n = n + 1
    end
  end
end
for q in pairs(queues) do
  redis.call('PUBLISH', p .. ':work', q)
end
redis.call('XTRIM', KEYS[2], 'MINID', minid)
return {n, #ids}
`)

// KEYS[1] results. ARGV: prefix, retention ms, channel, then (id, cancellation sig)...
// A queued task is marked done and cancelled, with a cancellation completion (its id stays on the queue list,
// where Dequeue skips it: removing it there would cost a scan of the list per task); a leased one is flagged and
// announced; any other id (a task inside a chunk) is announced, for the worker running it. Announcements carry
// the signature ("id sig"), so that only the dispatcher can stop a task.
var cancelScript = redis.NewScript(luaNow + luaFinish + `
local p = ARGV[1]
local ret = tonumber(ARGV[2])
local minid = string.format('%d', now - ret)
for i = 4, #ARGV, 2 do
  local id, sig = ARGV[i], ARGV[i + 1]
  local tk = p .. ':t:' .. id
  local state = redis.call('HGET', tk, 'state')
  if state == 'queued' then
    redis.call('HSET', tk, 'cancelled', 1, 'csig', sig)
    local sid = redis.call('XADD', KEYS[1], 'MINID', minid, '*', 'task', id, 'worker', '', 'cancel', sig)
    finish(p, tk, sid, ret)
  elseif state == 'leased' then
    redis.call('HSET', tk, 'cancelled', 1, 'csig', sig)
    redis.call('PUBLISH', ARGV[3], id .. ' ' .. sig)
  elseif not state then
    redis.call('PUBLISH', ARGV[3], id .. ' ' .. sig)
  end
end
return 0
`)

// KEYS[1] workers set, KEYS[2] worker hash, KEYS[3] platforms. ARGV: id, info JSON, ttl ms, platform ("" for
// none).
var heartbeatScript = redis.NewScript(luaNow + `
redis.call('HSET', KEYS[2], 'info', ARGV[2], 'beat', now)
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[3]))
redis.call('SADD', KEYS[1], ARGV[1])
if ARGV[4] ~= '' then
  redis.call('ZADD', KEYS[3], 'GT', now + tonumber(ARGV[3]), ARGV[4])
end
return now
`)

// KEYS[1] results. ARGV: retention ms, stream ids...
var ackScript = redis.NewScript(luaNow + `
local n = 0
if #ARGV > 1 then
  n = redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
end
redis.call('XTRIM', KEYS[1], 'MINID', string.format('%d', now - tonumber(ARGV[1])))
return n
`)

// KEYS[1] program key. ARGV: source, ttl ms.
var putProgramScript = redis.NewScript(`
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 0
end
return 1
`)

func queueName(s string) string {
	if s == "" {
		return DefaultQueue
	}
	return s
}

// Enqueue stores each task's payload (the JSON of the task, signed; Program is never part of it) and appends
// its id to its queue. Re-enqueueing an id that is already queued or leased does nothing, so a failed call can
// simply be retried; an id that is done is left alone too and returned in done: its completion is on the results
// stream, or was read from it (see Rerun). A chunk's members are indexed, so that Locate finds them. Enqueue also
// refreshes the expiry of the tasks' programs and native binaries; if one is not stored (PutProgram,
// PutBinary) it queues nothing and returns an error wrapping ErrNoProgram or ErrNoBinary.
func (q *Queue) Enqueue(ctx context.Context, tasks ...*executors.Task) (done []string, err error) {
	return q.enqueueAll(ctx, false, tasks)
}

// Rerun is Enqueue for tasks whose completion the caller lost (read from the stream but never stored, or refused
// by a worker): a done task is queued again as new.
func (q *Queue) Rerun(ctx context.Context, tasks ...*executors.Task) error {
	_, err := q.enqueueAll(ctx, true, tasks)
	return err
}

// ErrNoProgram is a task whose program is not stored in Redis (never put, or lost with Redis's data).
var ErrNoProgram = errors.New("redisq: program not stored")

func (q *Queue) enqueueAll(ctx context.Context, rerun bool, tasks []*executors.Task) (done []string, err error) {
	for len(tasks) > 0 {
		n := min(len(tasks), enqueueChunk)
		d, err := q.enqueue(ctx, rerun, tasks[:n])
		if err != nil {
			return done, err
		}
		done = append(done, d...)
		tasks = tasks[n:]
	}
	return done, nil
}

func (q *Queue) enqueue(ctx context.Context, rerun bool, tasks []*executors.Task) ([]string, error) {
	hashes, binaries := map[string]bool{}, map[string]bool{}
	for _, t := range tasks {
		if t.ProgramHash != "" {
			hashes[t.ProgramHash] = true
		}
		for _, b := range t.Binaries {
			binaries[b.Hash] = true
		}
	}
	flag := "0"
	if rerun {
		flag = "1"
	}
	args := make([]any, 0, 6+len(hashes)+len(binaries)+5*len(tasks))
	args = append(args, q.p, ms(q.opts.ProgramTTL), flag, len(hashes))
	for h := range hashes {
		args = append(args, h)
	}
	args = append(args, ms(q.opts.BinaryTTL), len(binaries))
	for h := range binaries {
		args = append(args, h)
	}
	for _, t := range tasks {
		if t.ID == "" {
			return nil, errors.New("redisq: task without id")
		}
		payload, err := json.Marshal(t)
		if err != nil {
			return nil, &EncodeError{TaskID: t.ID, Err: err}
		}
		members := ""
		if t.Kind == executors.KindChunk {
			ids, err := memberIDs(t)
			if err != nil {
				return nil, &EncodeError{TaskID: t.ID, Err: err}
			}
			members = strings.Join(ids, "\n")
		}
		args = append(args, t.ID, queueName(t.Queue), payload, q.mac("task", t.ID, string(payload)), members)
	}
	done, err := enqueueScript.Run(ctx, q.rdb, []string{q.key("queues")}, args...).StringSlice()
	if err != nil {
		if hash, ok := strings.CutPrefix(err.Error(), "NOPROG "); ok {
			return nil, fmt.Errorf("%w: %s", ErrNoProgram, hash)
		}
		if hash, ok := strings.CutPrefix(err.Error(), "NOBIN "); ok {
			return nil, &MissingBinaryError{Hash: hash}
		}
	}
	return done, err
}

// EncodeError is a task that cannot be queued because it cannot be encoded; retrying cannot help.
type EncodeError struct {
	TaskID string
	Err    error
}

func (e *EncodeError) Error() string {
	return fmt.Sprintf("redisq: encoding task %s: %v", e.TaskID, e.Err)
}
func (e *EncodeError) Unwrap() error { return e.Err }

// Place is where Redis holds a task, as Locate finds it.
type Place struct {
	State    string // "" (Redis holds nothing of it), "queued", "leased", "done" or "refused" (by a worker)
	Chunk    string // the chunk holding it, if it went in one; State is then the chunk's
	StreamID string // with State "done": the entry of its completion
	InStream bool   // that entry is still on the results stream (not yet acknowledged)
}

// Locate tells where Redis holds each of ids, tasks or chunk members.
func (q *Queue) Locate(ctx context.Context, ids []string) ([]Place, error) {
	out := make([]Place, 0, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), enqueueChunk)
		args := make([]any, 0, 1+n)
		args = append(args, q.p)
		for _, id := range ids[:n] {
			args = append(args, id)
		}
		vals, err := locateScript.Run(ctx, q.rdb, []string{q.key("results")}, args...).Slice()
		if err != nil {
			return nil, err
		}
		if len(vals) != 4*n {
			return nil, fmt.Errorf("redisq: locate: unexpected reply of %d values", len(vals))
		}
		for i := 0; i < len(vals); i += 4 {
			var pl Place
			pl.State, _ = vals[i].(string)
			pl.Chunk, _ = vals[i+1].(string)
			pl.StreamID, _ = vals[i+2].(string)
			kept, _ := vals[i+3].(int64)
			pl.InStream = kept == 1
			out = append(out, pl)
		}
		ids = ids[n:]
	}
	return out, nil
}

// PutProgram stores a program's source under its hash, once (SET NX); either way its expiry is refreshed.
func (q *Queue) PutProgram(ctx context.Context, hash, source string) error {
	return putProgramScript.Run(ctx, q.rdb, []string{q.key("prog", hash)}, source, ms(q.opts.ProgramTTL)).Err()
}

// Program returns a stored program's source, or an error wrapping redis.Nil if there is none. A source that
// does not match its hash (which signed tasks carry) is refused.
func (q *Queue) Program(ctx context.Context, hash string) (string, error) {
	s, err := q.rdb.Get(ctx, q.key("prog", hash)).Result()
	if err != nil {
		return "", fmt.Errorf("redisq: program %s: %w", hash, err)
	}
	if results.ProgramHash(s) != hash {
		q.refuse("a program", "hash", hash)
		return "", fmt.Errorf("redisq: the program stored under %s does not match that hash", hash)
	}
	return s, nil
}

// Dequeue leases up to max tasks for worker, taking from queues in order (nil means the default queue). It does
// not block: it returns no leases when the queues are empty. A task whose signature does not verify is refused:
// it is taken back from the worker without running and without a completion (see refuseScript).
func (q *Queue) Dequeue(ctx context.Context, worker string, queues []string, max int) ([]Lease, error) {
	if max <= 0 {
		return nil, nil
	}
	if len(queues) == 0 {
		queues = []string{DefaultQueue}
	}
	args := []any{q.p, worker, max, ms(q.opts.Lease)}
	for _, name := range queues {
		args = append(args, queueName(name))
	}
	vals, err := dequeueScript.Run(ctx, q.rdb, []string{q.key("leases")}, args...).Slice()
	if err != nil {
		return nil, err
	}
	leases := make([]Lease, 0, len(vals)/5)
	var bad, refused []Lease
	var badOutcomes []executors.Outcome
	for i := 0; i+4 < len(vals); i += 5 {
		id, _ := vals[i].(string)
		tok, _ := vals[i+1].(string)
		att, _ := vals[i+2].(int64)
		payload, _ := vals[i+3].(string)
		sig, _ := vals[i+4].(string)
		l := Lease{Token: tok, Attempt: int(att)}
		if !q.signed(sig, "task", id, payload) {
			q.refuse("a task", "task", id)
			l.Task.ID = id
			refused = append(refused, l)
			continue
		}
		if err := json.Unmarshal([]byte(payload), &l.Task); err != nil || l.Task.ID != id {
			// Fail it at once rather than let it cycle through recovery forever.
			l.Task.ID = id
			now := time.Now()
			bad = append(bad, l)
			badOutcomes = append(badOutcomes, executors.Outcome{
				Error: fmt.Sprintf("redisq: undecodable task payload: %v", err), Start: now, End: now})
			continue
		}
		leases = append(leases, l)
	}
	if len(refused) > 0 {
		args := []any{q.p, ms(q.opts.ResultRetention)}
		for _, l := range refused {
			args = append(args, l.Task.ID, l.Token)
		}
		if err := refuseScript.Run(ctx, q.rdb, []string{q.key("leases")}, args...).Err(); err != nil {
			return leases, err
		}
	}
	if len(bad) > 0 {
		if _, err := q.CompleteBatch(ctx, bad, badOutcomes); err != nil {
			return leases, err
		}
	}
	return leases, nil
}

// Extend pushes the expiry of the worker's leases to one Lease from now (server time) and tells, per lease,
// whether it is still held. A lease whose token no longer matches (recovered and handed on, completed, or lost
// with Redis's data) is not held: its task must not start, and its outcome would be dropped.
func (q *Queue) Extend(ctx context.Context, worker string, leases []Lease) ([]bool, error) {
	if len(leases) == 0 {
		return nil, nil
	}
	args := make([]any, 0, 3+2*len(leases))
	args = append(args, q.p, worker, ms(q.opts.Lease))
	for _, l := range leases {
		args = append(args, l.Task.ID, l.Token)
	}
	res, err := extendScript.Run(ctx, q.rdb, []string{q.key("leases")}, args...).Int64Slice()
	if err != nil {
		return nil, err
	}
	held := make([]bool, len(leases))
	for i := range held {
		held[i] = i < len(res) && res[i] == 1
	}
	return held, nil
}

// Complete records oc as the outcome of l's task if, and only if, l's token still matches: it ends the lease,
// deletes the payload, appends the completion (signed) to the results stream and returns true. A stale token (the
// lease expired and the task was requeued or handed to another worker, or it was already completed) returns
// false and changes nothing.
func (q *Queue) Complete(ctx context.Context, l Lease, oc executors.Outcome) (bool, error) {
	ok, err := q.CompleteBatch(ctx, []Lease{l}, []executors.Outcome{oc})
	if err != nil {
		return false, err
	}
	return ok[0], nil
}

// CompleteBatch is Complete for several leases in one script call; ok[i] tells whether outcomes[i] was recorded.
func (q *Queue) CompleteBatch(ctx context.Context, leases []Lease, outcomes []executors.Outcome) ([]bool, error) {
	if len(leases) != len(outcomes) {
		return nil, errors.New("redisq: CompleteBatch: leases and outcomes differ in length")
	}
	if len(leases) == 0 {
		return nil, nil
	}
	args := make([]any, 0, 2+4*len(leases))
	args = append(args, q.p, ms(q.opts.ResultRetention))
	for i, l := range leases {
		b, err := json.Marshal(outcomes[i])
		if err != nil {
			return nil, fmt.Errorf("redisq: encoding outcome of %s: %w", l.Task.ID, err)
		}
		args = append(args, l.Task.ID, l.Token, b, q.mac("outcome", l.Task.ID, l.Token, string(b)))
	}
	res, err := completeScript.Run(ctx, q.rdb, []string{q.key("leases"), q.key("results")}, args...).Int64Slice()
	if err != nil {
		return nil, err
	}
	ok := make([]bool, len(leases))
	for i := range ok {
		ok[i] = i < len(res) && res[i] == 1
	}
	return ok, nil
}

// Recover puts tasks whose lease expired back at the head of their queue (they get a new token when next
// dequeued) and returns how many. An expired lease of a cancelled task is completed as cancelled instead. It
// also trims completions older than ResultRetention. The dispatcher calls it every second.
func (q *Queue) Recover(ctx context.Context) (int, error) {
	total := 0
	for {
		res, err := recoverScript.Run(ctx, q.rdb, []string{q.key("leases"), q.key("results")},
			q.p, ms(q.opts.ResultRetention), recoverLimit, q.recoverAhead.Load()).Int64Slice()
		if err != nil {
			return total, err
		}
		if len(res) != 2 {
			return total, fmt.Errorf("redisq: recover: unexpected reply %v", res)
		}
		total += int(res[0])
		if res[1] < recoverLimit {
			return total, nil
		}
	}
}

// Results reads up to count completions after stream id after ("" or "0" for the start), waiting up to block
// for the first one (block <= 0: don't wait). It returns them and the id to pass as after next time (after
// itself when there were none). Completions that are not signed with the key are left out (logged and counted).
func (q *Queue) Results(ctx context.Context, after string, count int, block time.Duration) ([]Completion, string, error) {
	if after == "" {
		after = "0"
	}
	if block <= 0 {
		block = -1
	}
	streams, err := q.rdb.XRead(ctx, &redis.XReadArgs{
		Streams: []string{q.key("results"), after},
		Count:   int64(count),
		Block:   block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, after, nil
	}
	if err != nil {
		return nil, after, err
	}
	var out []Completion
	for _, s := range streams {
		for _, m := range s.Messages {
			if _, single := m.Values["task"]; single { // a cancellation, written by Cancel or Recover
				id := field(m, "task")
				if q.signed(field(m, "cancel"), "cancelled", id) {
					now := time.Now()
					out = append(out, Completion{StreamID: m.ID, TaskID: id, Worker: field(m, "worker"),
						Outcome: executors.Outcome{Cancelled: true, Error: "cancelled", Start: now, End: now}})
				} else {
					q.refuse("a cancellation", "task", id, "entry", m.ID)
				}
			}
			for i := 1; ; i++ { // written by Complete: one entry per batch
				n := strconv.Itoa(i)
				id, ok := m.Values["t"+n].(string)
				if !ok {
					break
				}
				tok, raw := field(m, "k"+n), field(m, "o"+n)
				if !q.signed(field(m, "s"+n), "outcome", id, tok, raw) {
					q.refuse("an outcome", "task", id, "worker", field(m, "w"+n), "entry", m.ID)
					continue
				}
				c := Completion{StreamID: m.ID, TaskID: id, Worker: field(m, "w"+n)}
				if err := json.Unmarshal([]byte(raw), &c.Outcome); err != nil {
					c.Outcome = executors.Outcome{Error: "redisq: undecodable outcome: " + err.Error()}
				}
				out = append(out, c)
			}
			after = m.ID
		}
	}
	return out, after, nil
}

func field(m redis.XMessage, name string) string {
	s, _ := m.Values[name].(string)
	return s
}

// Ack deletes completions the dispatcher has stored, and trims those older than ResultRetention.
func (q *Queue) Ack(ctx context.Context, streamIDs ...string) error {
	for first := true; first || len(streamIDs) > 0; first = false {
		n := min(len(streamIDs), ackChunk) // the script unpacks its arguments: keep well under Lua's stack limit
		args := make([]any, 0, 1+n)
		args = append(args, ms(q.opts.ResultRetention))
		for _, id := range streamIDs[:n] {
			args = append(args, id)
		}
		if err := ackScript.Run(ctx, q.rdb, []string{q.key("results")}, args...).Err(); err != nil {
			return err
		}
		streamIDs = streamIDs[n:]
	}
	return nil
}

// Cancel cancels tasks: a queued one is done at once, with a cancellation completion; a leased one is flagged
// (IsCancelled) and announced on CancelChannel, and its worker is expected to stop it and Complete it (if the
// lease expires instead, Recover completes it as cancelled); an id Redis does not hold (a task inside a chunk)
// is announced, so that the worker running it stops it. A done task is left alone. Cancellations are signed.
func (q *Queue) Cancel(ctx context.Context, taskIDs ...string) error {
	for len(taskIDs) > 0 {
		n := min(len(taskIDs), enqueueChunk)
		args := make([]any, 0, 3+2*n)
		args = append(args, q.p, ms(q.opts.ResultRetention), q.CancelChannel())
		for _, id := range taskIDs[:n] {
			args = append(args, id, q.mac("cancelled", id))
		}
		if err := cancelScript.Run(ctx, q.rdb, []string{q.key("results")}, args...).Err(); err != nil {
			return err
		}
		taskIDs = taskIDs[n:]
	}
	return nil
}

// CancelChannel is the pub/sub channel on which Cancel announces leased task ids, as "id signature".
func (q *Queue) CancelChannel() string { return q.key("cancel") }

// CancelledID reads a message from CancelChannel: the task id, if the message is signed with the key.
func (q *Queue) CancelledID(msg string) (string, bool) {
	id, sig, _ := strings.Cut(msg, " ")
	if !q.signed(sig, "cancelled", id) {
		q.refuse("a cancellation message", "task", id)
		return "", false
	}
	return id, true
}

// WorkChannel is the pub/sub channel on which Enqueue and Recover announce the queues that got tasks, so that
// idle workers need not poll.
func (q *Queue) WorkChannel() string { return q.key("work") }

// IsCancelled tells whether a leased task has been cancelled, for workers that poll (pub/sub messages are lost
// while a worker is disconnected).
func (q *Queue) IsCancelled(ctx context.Context, taskID string) (bool, error) {
	v, err := q.rdb.HMGet(ctx, q.key("t", taskID), "cancelled", "csig").Result()
	if err != nil {
		return false, err
	}
	flag, _ := v[0].(string)
	sig, _ := v[1].(string)
	return flag == "1" && q.signed(sig, "cancelled", taskID), nil
}

// Epoch returns a token naming this Redis dataset, creating it if there is none: it changes when Redis lost
// its data (restarted without persistence, or flushed), so that the dispatcher knows to check what it has in
// flight there.
func (q *Queue) Epoch(ctx context.Context) (string, error) {
	k := q.key("epoch")
	if err := q.rdb.SetNX(ctx, k, uuid.NewString(), 0).Err(); err != nil {
		return "", err
	}
	return q.rdb.Get(ctx, k).Result()
}

// Heartbeat records a live worker, expiring after 3 leases unless renewed.
func (q *Queue) Heartbeat(ctx context.Context, w WorkerInfo) error {
	if w.ID == "" {
		return errors.New("redisq: worker without id")
	}
	w.LastHeartbeat = time.Time{}
	b, err := json.Marshal(w)
	if err != nil {
		return err
	}
	return heartbeatScript.Run(ctx, q.rdb, []string{q.key("workers"), q.key("w", w.ID), q.key("platforms")},
		w.ID, b, ms(3*q.opts.Lease), w.Platform).Err()
}

// Workers lists live workers, sorted by id.
func (q *Queue) Workers(ctx context.Context) ([]WorkerInfo, error) {
	ids, err := q.rdb.SMembers(ctx, q.key("workers")).Result()
	if err != nil {
		return nil, err
	}
	cmds := make([]*redis.SliceCmd, len(ids))
	_, err = q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HMGet(ctx, q.key("w", id), "info", "beat")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []WorkerInfo
	var gone []any
	for i, c := range cmds {
		v := c.Val()
		info, _ := v[0].(string)
		if info == "" {
			gone = append(gone, ids[i])
			continue
		}
		var w WorkerInfo
		if err := json.Unmarshal([]byte(info), &w); err != nil {
			continue
		}
		beat, _ := v[1].(string)
		if n, err := strconv.ParseInt(beat, 10, 64); err == nil {
			w.LastHeartbeat = time.UnixMilli(n)
		}
		out = append(out, w)
	}
	if len(gone) > 0 {
		// A worker beating right now re-adds itself on its next heartbeat.
		q.rdb.SRem(ctx, q.key("workers"), gone...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Depths returns the length of every queue ever used and the number of leased tasks.
func (q *Queue) Depths(ctx context.Context) (map[string]int64, int64, error) {
	names, err := q.rdb.SMembers(ctx, q.key("queues")).Result()
	if err != nil {
		return nil, 0, err
	}
	lens := make([]*redis.IntCmd, len(names))
	var leased *redis.IntCmd
	_, err = q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, n := range names {
			lens[i] = p.LLen(ctx, q.key("q", n))
		}
		leased = p.ZCard(ctx, q.key("leases"))
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	m := make(map[string]int64, len(names))
	for i, n := range names {
		m[n] = lens[i].Val()
	}
	return m, leased.Val(), nil
}
