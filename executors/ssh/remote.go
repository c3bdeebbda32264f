package ssh

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/govalent/govalent/ct/wire"
	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/process"
)

// The remote side is POSIX sh and the usual tools (mkdir, cat, mv, kill, wc, tail, uname) and setsid
// (util-linux); nothing else. Its directory:
//
//	ROOT/bin/SHA256                  runner binaries (govalent, programs' native workers), uploaded once by hash
//	ROOT/tasks/DISPATCH/NODE/        the latest task of a node:
//	    task_id                      its Task.ID
//	    mode                         how it runs: "pipe" (govalent worker --pipe) or "native" (the native worker)
//	    request                      what the worker reads (removed when it ends)
//	    pid                          the pid of its process group (setsid), written when it starts
//	    reply                        the worker's reply, renamed into place when the worker has exited
//	    status                       the worker's exit status, written (atomically) last: the task is over
//	    stdout, stderr               the process's own output: a native worker's is the electron's; govalent's
//	                                 is a crash report (it captures the electron's, which is in reply)
//
// All of it can be found after a restart of the dispatcher from DISPATCH and NODE alone (Adopt).

// quote makes s one word for sh.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// safeName keeps an id usable as a directory name.
var safeName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

func pathPart(id string) string {
	if safeName.MatchString(id) && id != "." && id != ".." {
		return id
	}
	return fmt.Sprintf("x%x", id)
}

func nodeDir(root string, t *executors.Task) string {
	return root + "/tasks/" + pathPart(t.DispatchID) + "/" + strconv.Itoa(t.NodeID)
}

// probeScript prints uname -s, uname -m and the remote directory, absolute, making it; it prunes task
// directories of dispatches untouched for retention days.
func probeScript(dir string, retentionDays int) string {
	prune := ""
	if retentionDays > 0 {
		prune = fmt.Sprintf("find tasks -mindepth 1 -maxdepth 1 -type d -mtime +%d -exec rm -rf {} + 2>/dev/null || true\n", retentionDays)
	}
	return fmt.Sprintf(`set -e
umask 077
command -v setsid >/dev/null || { echo "setsid (util-linux) is not installed" >&2; exit 1; }
mkdir -p %[1]s/bin %[1]s/tasks
cd %[1]s
test -w . || { echo "$(pwd) is not writable" >&2; exit 1; }
t=$(mktemp tasks/.probe.XXXXXX) && rm -f "$t"
%[2]suname -s
uname -m
pwd
`, quote(dir), prune)
}

// maxCapture bounds the stdout and stderr brought back per task, as the embedded pool's workers do.
const maxCapture = 1 << 20

// tail prints how a task's process ended: "status CODE MODE REPLYSIZE STDOUTSIZE STDERRSIZE", the reply and the
// ends of the process's stdout and stderr; or "lost" when it ended without writing its status (it was killed).
var tail = fmt.Sprintf(`if [ -f status ]; then
  printf 'status %%s %%s %%s %%s %%s\n' "$(cat status)" "$(cat mode)" "$(wc -c < reply)" "$(tail -c %[1]d stdout | wc -c)" "$(tail -c %[1]d stderr | wc -c)"
  cat reply; tail -c %[1]d stdout; tail -c %[1]d stderr
else echo lost; fi
`, maxCapture)

// Runner modes: the govalent binary's pipe worker, which runs any task (interpreted, or in the native worker it
// starts), or a program's native worker binary alone, for a compiled electron.
const (
	modePipe   = "pipe"
	modeNative = "native"
)

// wrappers run a task's process in its directory as the leader of its own session, and record how it ended.
var wrappers = map[string]string{
	modePipe: `"$1" worker --pipe 3<request 4>reply.tmp >stdout 2>stderr; code=$?
rm -f request; mv reply.tmp reply; echo $code > status.tmp; mv status.tmp status`,
	modeNative: wire.NativeServeEnv + `=1 "$1" 3<request 4>reply.tmp >stdout 2>stderr; code=$?
rm -f request; mv reply.tmp reply; echo $code > status.tmp; mv status.tmp status`,
}

// startScript replaces the node's directory (killing an earlier task of it still running), writes the task's
// request from stdin, starts the runner under setsid, prints "started", waits for it and prints tail.
func startScript(node, taskID, runner, mode string) string {
	return fmt.Sprintf(`set -e
umask 077
node=%[1]s
if [ -f "$node/pid" ] && [ ! -f "$node/status" ]; then kill -KILL -- "-$(cat "$node/pid")" 2>/dev/null || true; fi
rm -rf "$node"; mkdir -p "$node"; cd "$node"
printf '%%s\n' %[2]s > task_id
printf '%%s\n' %[6]s > mode
cat > request
setsid sh -c %[3]s sh %[4]s </dev/null >/dev/null 2>&1 &
echo $! > pid
echo started
wait $! || true
%[5]s`, quote(node), quote(taskID), quote(wrappers[mode]), quote(runner), tail, mode)
}

// watchScript attaches to the node's task: "none" when there is none, or it ended without an outcome; else
// "attached TASKID", then, once it has ended, tail. Without a child to wait for, it polls, cheaply. Whether the
// process is alive is asked before whether it wrote its status: the process writes status and then exits, so
// asked the other way round, a task that ends between the two looks killed, and would run again.
func watchScript(node string) string {
	return fmt.Sprintf(`node=%[1]s
cd "$node" 2>/dev/null || { echo none; exit 0; }
alive() { [ -f pid ] && kill -0 "$(cat pid)" 2>/dev/null; }
if ! alive && [ ! -f status ]; then echo none; exit 0; fi
echo "attached $(cat task_id)"
while [ ! -f status ] && alive; do sleep 0.2 2>/dev/null || sleep 1; done
%[2]s`, quote(node), tail)
}

// killScript kills the process group of the node's task, unless it has ended.
func killScript(node string) string {
	return fmt.Sprintf(`cd %s 2>/dev/null || exit 0
[ -f pid ] && [ ! -f status ] && { p=$(cat pid); kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null; }
exit 0`, quote(node))
}

// ended is how a task's process ended, as tail told.
type ended struct {
	lost           bool // killed, without an outcome
	code           int
	mode           string
	reply          []byte
	stdout, stderr string
}

// readTail reads what tail printed.
func readTail(br *bufio.Reader) (ended, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return ended{}, err
	}
	f := strings.Fields(line)
	if len(f) == 1 && f[0] == "lost" {
		return ended{lost: true}, nil
	}
	bad := fmt.Errorf("unexpected line from the host: %q", line)
	if len(f) != 6 || f[0] != "status" {
		return ended{}, bad
	}
	var n [4]int
	for i, field := range []string{f[1], f[3], f[4], f[5]} {
		if n[i], err = strconv.Atoi(field); err != nil || n[i] < 0 {
			return ended{}, bad
		}
	}
	e := ended{code: n[0], mode: f[2]}
	var stdout, stderr []byte
	for _, part := range []struct {
		into *[]byte
		size int
	}{{&e.reply, n[1]}, {&stdout, n[2]}, {&stderr, n[3]}} {
		*part.into = make([]byte, part.size)
		if _, err := io.ReadFull(br, *part.into); err != nil {
			return ended{}, fmt.Errorf("reading how the task ended: %w", err)
		}
	}
	e.stdout, e.stderr = string(stdout), string(stderr)
	return e, nil
}

// outcome is the task's outcome from its reply, or, when there is none, an error that says how its process
// ended.
func (e ended) outcome(host string) executors.Outcome {
	if e.mode == modeNative {
		return e.nativeOutcome()
	}
	if oc, ok := process.DecodeReply(e.reply); ok {
		return oc
	}
	msg := fmt.Sprintf("the worker on %s exited with status %d without an outcome", host, e.code)
	if s := strings.TrimSpace(e.stderr); s != "" {
		msg += ": " + s[max(0, len(s)-4096):]
	}
	return executors.Outcome{Error: msg, ErrorKind: executors.ErrorCrash, Retryable: true}
}

// cellSite is a panic site in the user's cells, the form Outcome.ErrorCell has.
var cellSite = regexp.MustCompile(`^cell\d+:\d+$`)

// nativeOutcome is the outcome of a native worker's one call: its reply, or how the process ended in it (a
// panic in a goroutine ends it as it ends a Go program, with the report on stderr; os.Exit ends it too).
func (e ended) nativeOutcome() executors.Outcome {
	oc := executors.Outcome{Stdout: e.stdout, Stderr: e.stderr}
	rep, err := wire.ReadNativeReply(bufio.NewReader(bytes.NewReader(e.reply)))
	switch {
	case err != nil:
		oc.Error, oc.ErrorKind = fmt.Sprintf("the electron's native process exited with status %d (what os.Exit(%d) does)", e.code, e.code), executors.ErrorCrash
		for _, line := range strings.Split(e.stderr, "\n") {
			if v, ok := strings.CutPrefix(line, "panic: "); ok {
				oc.Error, oc.ErrorKind = "panic in a goroutine of the electron (or while the program initialised): "+v, executors.ErrorUser
				break
			}
		}
		return oc
	case rep.Error != "":
		oc.Error, oc.Stack, oc.ErrorKind = rep.Error, rep.Stack, executors.ErrorUser
		if cellSite.MatchString(rep.Cell) {
			oc.ErrorCell = rep.Cell
		}
	default:
		oc.Output = rep.Output
	}
	oc.Start, oc.End = time.Unix(0, rep.Start), time.Unix(0, rep.End)
	return oc
}

// encodeNativeCall is the request file of an electron that its native worker runs alone.
func encodeNativeCall(t *executors.Task) []byte {
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	wire.WriteNativeCall(bw, &wire.NativeCall{Seq: 1, Entry: t.Entry, Args: t.Args})
	bw.Flush()
	return buf.Bytes()
}
