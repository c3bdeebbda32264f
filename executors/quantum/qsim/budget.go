package qsim

import (
	"context"
	"fmt"
	"math"

	"golang.org/x/sync/semaphore"

	"github.com/govalent/govalent/executors/quantum/qasm"
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

// acquire waits for need bytes, or fails at once if need exceeds the whole budget; what says what needs it.
func (b *Budget) acquire(ctx context.Context, need float64, what string) (int64, error) {
	if need > float64(b.bytes) {
		return 0, fmt.Errorf("%s needs %s of memory; %s", what, Size(need), b)
	}
	n := int64(need)
	if err := b.sem.Acquire(ctx, n); err != nil {
		return 0, err
	}
	return n, nil
}

// parseBytes bounds the memory of parsing text bytes of program within lim, whatever the text says.
func parseBytes(text int, lim qasm.Limits) float64 {
	return TextBytesPerByte*float64(text) + float64(lim.Gates)*(GateBytes+GateBytesPerQubit*float64(lim.Qubits))
}

// programBytes is the memory of a parsed program: its text (held while it was lexed) and its gates.
func programBytes(text int, prog *qasm.Program) float64 {
	b := TextBytesPerByte*float64(text) + GateBytes*float64(len(prog.Ops))
	for _, op := range prog.Ops {
		b += GateBytesPerQubit * float64(len(op.Qubits))
	}
	return b
}

// outcomeBytes bounds the memory of the results of measuring m qubits with shots (0: exact probabilities).
func outcomeBytes(m, shots int) float64 {
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
