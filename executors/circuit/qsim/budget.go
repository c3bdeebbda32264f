package qsim

import (
	"context"
	"fmt"
	"math"

	"golang.org/x/sync/semaphore"

	"github.com/govalent/govalent/executors/circuit/qasm"
)

// The memory model of a job, charged to its Budget before the memory is taken. Each term has a bound that
// does not depend on the job being honest: a program's text is bounded by the budget, its gates by
// Limits.Gates, its qubits by Limits.Qubits, its outcomes by the shots (quantum.MaxShots) and MaxOutcomes.
const (
	// StateBytesPerAmplitude: an amplitude (complex128) and its entry in the probability table (float64).
	StateBytesPerAmplitude = 24
	// TextBytesPerByte: lexing holds a 40-byte token per byte of text at worst, and a growing slice copies.
	TextBytesPerByte = 128
	// GateBytes: a parsed gate, its bound copy and their share of the slices' growth; GateBytesPerQubit
	// for each qubit it acts on.
	GateBytes         = 512
	GateBytesPerQubit = 16
	// OutcomeBytes: an outcome in the counts and probabilities (maps, bitstring keys, their JSON), plus
	// OutcomeBytesPerQubit for each character of its bitstring.
	OutcomeBytes         = 320
	OutcomeBytesPerQubit = 8
)

// StateBytes is the memory of an n-qubit state and its probability table. It is a float64 so that absurd n
// (64, 1000) are reported rather than overflow.
func StateBytes(n int) float64 { return StateBytesPerAmplitude * math.Ldexp(1, n) }

// Budget is the memory the jobs of one simulator may hold at once: a job waits until its whole need fits,
// and a job that could never fit fails at once with a message naming what it needs.
type Budget struct {
	bytes int64
	sem   *semaphore.Weighted
	owner string // named in errors, e.g. "executor qsim (memory in [executors.qsim])"
}

// NewBudget is a budget of bytes; owner says in errors whose budget it is and where it is set.
func NewBudget(bytes int64, owner string) *Budget {
	return &Budget{bytes: bytes, sem: semaphore.NewWeighted(bytes), owner: owner}
}

// Bytes is the budget's size.
func (b *Budget) Bytes() int64 { return b.bytes }

// String names the budget and its size, for messages.
func (b *Budget) String() string {
	return fmt.Sprintf("the memory budget of %s is %s", b.owner, Size(float64(b.bytes)))
}

// Acquire waits for need bytes, or fails at once if need exceeds the whole budget; what says what needs it.
// The caller gives back what it returns with Release.
func (b *Budget) Acquire(ctx context.Context, need float64, what string) (int64, error) {
	if need > float64(b.bytes) {
		return 0, fmt.Errorf("%s needs %s of memory; %s", what, Size(need), b)
	}
	n := int64(need)
	if err := b.sem.Acquire(ctx, n); err != nil {
		return 0, err
	}
	return n, nil
}

// Release gives back n bytes taken with Acquire.
func (b *Budget) Release(n int64) { b.sem.Release(n) }

// ParseWithin parses text within lim (Qubits, Gates), holding its memory in lim.Memory before it is allocated:
// first the most parsing the text could take, then need(prog), what the program and what the caller makes of
// it take (with a description for errors). If that is more than is held, everything is given back and the
// text parsed again once need is held: waiting for more while holding the parse's share could deadlock with
// another job doing the same. The caller releases held. A program beyond lim.Qubits fails with a
// *qasm.QubitsError.
func ParseWithin(ctx context.Context, text string, lim Limits, need func(*qasm.Program) (float64, string)) (prog *qasm.Program, held int64, err error) {
	qlim := qasm.Limits{Qubits: lim.Qubits, Gates: lim.Gates}
	parse := func() (*qasm.Program, error) {
		prog, err := qasm.ParseLimited(text, qlim)
		if err != nil {
			return nil, fmt.Errorf("OpenQASM: %w", err)
		}
		return prog, nil
	}
	held, err = lim.Memory.Acquire(ctx, ParseBytes(len(text), qlim),
		fmt.Sprintf("parsing a %s program of up to %d gates on %d qubits", Size(float64(len(text))), qlim.Gates, qlim.Qubits))
	if err != nil {
		return nil, 0, err
	}
	if prog, err = parse(); err != nil {
		lim.Memory.Release(held)
		return nil, 0, err
	}
	n, what := need(prog)
	if n <= float64(held) {
		lim.Memory.Release(held - int64(n))
		return prog, int64(n), nil
	}
	prog = nil
	lim.Memory.Release(held)
	if held, err = lim.Memory.Acquire(ctx, n, what); err != nil {
		return nil, 0, err
	}
	if prog, err = parse(); err != nil {
		lim.Memory.Release(held)
		return nil, 0, err
	}
	return prog, held, nil
}

// MeasuredQubits is how many qubits a program's results are over: those it measures, or all of them.
func MeasuredQubits(prog *qasm.Program) int {
	if len(prog.Measured) > 0 {
		return len(prog.Measured)
	}
	return prog.NumQubits
}

// ParseBytes bounds the memory of parsing text bytes of program within lim, whatever the text says.
func ParseBytes(text int, lim qasm.Limits) float64 {
	return TextBytesPerByte*float64(text) + float64(lim.Gates)*(GateBytes+GateBytesPerQubit*float64(lim.Qubits))
}

// ProgramBytes is the memory of a parsed program: its text (held while it was lexed) and its gates.
func ProgramBytes(text int, prog *qasm.Program) float64 {
	b := TextBytesPerByte*float64(text) + GateBytes*float64(len(prog.Ops))
	for _, op := range prog.Ops {
		b += GateBytesPerQubit * float64(len(op.Qubits))
	}
	return b
}

// ResultBytes bounds the memory of the results of measuring m qubits with shots (0: exact probabilities).
func ResultBytes(m, shots int) float64 {
	n := math.Ldexp(1, m)
	if shots > 0 {
		n = min(n, float64(shots))
	} else {
		n = min(n, MaxOutcomes+1) // one past MaxOutcomes is counted, then refused
	}
	return n * (OutcomeBytes + OutcomeBytesPerQubit*float64(m))
}

// Size writes a number of bytes in binary units ("1.5 GiB").
func Size(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"}
	i := 0
	for b >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	return fmt.Sprintf("%.4g %s", b, units[i])
}
