package qsim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/govalent/govalent/ct/quantum"
	"github.com/govalent/govalent/executors/circuit/qasm"
)

// minProbability is the smallest exact probability reported; below it is rounding noise of amplitudes that
// are zero.
const minProbability = 1e-15

// MaxOutcomes bounds the exact probabilities a result lists (shots=0): beyond it the result would be hundreds
// of megabytes of JSON.
const MaxOutcomes = 1 << 20

// Limits bound the jobs a simulator runs: the qubits and gates of their programs, and the memory of all the
// jobs running at once (shared by the simulator's jobs; see StateBytes and the constants of the memory model).
type Limits struct {
	Qubits, Gates int
	Memory        *Budget
}

// RunJob parses job's program, simulates it and measures: Counts from job.Shots seeded samples (a random seed,
// reported in the result, when job.Seed is 0), exact Probabilities when Shots is 0, and the expectation values
// of job.Observables and of the program's `#pragma braket result expectation` lines. Qubits are measured as
// the program says, or all of them if it measures none.
//
// The job's memory is taken from lim.Memory before it is allocated: first the most parsing its text within
// lim could take, then (after parsing) what the state, the program and the results take. A job that needs
// more than the whole budget fails with an error naming what it needs; one that fits waits for room.
func RunJob(ctx context.Context, job quantum.Job, lim Limits) (quantum.Result, error) {
	if err := job.Validate(); err != nil {
		return quantum.Result{}, err
	}
	lim.Qubits = min(lim.Qubits, MaxQubits)
	prog, held, err := ParseWithin(ctx, job.QASM, lim, func(prog *qasm.Program) (float64, string) {
		state, program, outcomes := StateBytes(prog.NumQubits), ProgramBytes(len(job.QASM), prog), ResultBytes(MeasuredQubits(prog), job.Shots)
		return state + program + outcomes, fmt.Sprintf("this job (a %d-qubit state: %s; the program: %s; up to %s of results)",
			prog.NumQubits, Size(state), Size(program), Size(outcomes))
	})
	var qe *qasm.QubitsError
	if errors.As(err, &qe) {
		return quantum.Result{}, fmt.Errorf("the program has %d qubits; this simulator is limited to %d (a %d-qubit state needs %s, a %d-qubit one %s)",
			qe.Qubits, qe.Limit, qe.Qubits, Size(StateBytes(qe.Qubits)), qe.Limit, Size(StateBytes(qe.Limit)))
	}
	if err != nil {
		return quantum.Result{}, err
	}
	defer lim.Memory.Release(held)
	ops, err := prog.Bind(job.Inputs)
	if err != nil {
		return quantum.Result{}, err
	}
	s, err := New(prog.NumQubits)
	if err != nil {
		return quantum.Result{}, err
	}
	if err := s.Run(ctx, ops); err != nil {
		return quantum.Result{}, err
	}
	res := quantum.Result{MeasuredQubits: prog.Measured, Shots: job.Shots, Device: "qsim"}
	if len(res.MeasuredQubits) == 0 {
		for q := 0; q < prog.NumQubits; q++ {
			res.MeasuredQubits = append(res.MeasuredQubits, q)
		}
	}
	probs := s.Probabilities(res.MeasuredQubits)
	m := len(res.MeasuredQubits)
	res.Probabilities = map[string]float64{}
	if job.Shots == 0 {
		n := 0
		for _, p := range probs {
			if p >= minProbability {
				n++
			}
		}
		if n > MaxOutcomes {
			return quantum.Result{}, fmt.Errorf("%d outcomes have a probability above %g: more than the %d a result may list; measure fewer qubits or sample them with shots",
				n, minProbability, MaxOutcomes)
		}
		for x, p := range probs {
			if p >= minProbability {
				res.Probabilities[Bitstring(x, m)] = p
			}
		}
	} else {
		res.Seed = job.Seed
		for res.Seed == 0 {
			res.Seed = rand.Int64()
		}
		if res.Counts, err = Sample(ctx, probs, job.Shots, m, rand.New(rand.NewPCG(uint64(res.Seed), 0))); err != nil {
			return quantum.Result{}, err
		}
		for k, n := range res.Counts {
			res.Probabilities[k] = float64(n) / float64(job.Shots)
		}
	}
	if res.Expectations, err = expectations(s, job.Observables, prog.Results); err != nil {
		return quantum.Result{}, err
	}
	return res, nil
}

// expectations evaluates the job's observables (keyed as written) and the program's expectation pragmas
// (keyed like "Z0 Z1").
func expectations(s *State, observables []string, pragmas []qasm.ResultType) (map[string]float64, error) {
	out := map[string]float64{}
	for _, o := range observables {
		ps, err := quantum.ParseObservable(o)
		if err != nil {
			return nil, err
		}
		if out[o], err = s.Expectation(ps); err != nil {
			return nil, fmt.Errorf("observable %q: %w", o, err)
		}
	}
	for _, rt := range pragmas {
		if rt.Type != "expectation" {
			continue
		}
		v, err := s.Expectation(rt.Observable)
		if err != nil {
			return nil, err
		}
		out[quantum.FormatObservable(rt.Observable)] = v
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// Bitstring writes outcome x of m measured qubits, most significant (first measured) first.
func Bitstring(x, m int) string {
	var b strings.Builder
	for j := m - 1; j >= 0; j-- {
		b.WriteByte('0' + byte(x>>j&1))
	}
	return b.String()
}

// Sample draws shots outcomes from the distribution probs (over m measured qubits) with rng. It turns probs
// into its cumulative sum in place (no second table the size of the state), and stops when ctx is done.
func Sample(ctx context.Context, probs []float64, shots, m int, rng *rand.Rand) (map[string]int, error) {
	cdf := probs
	total := 0.0
	for i, p := range probs {
		total += p
		cdf[i] = total
	}
	hits := map[int]int{}
	for i := range shots {
		if i%(1<<16) == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		u := rng.Float64() * total
		// The outcome x with cdf[x-1] <= u < cdf[x]; u < total, so one exists, and it has probability > 0.
		hits[sort.Search(len(cdf), func(i int) bool { return cdf[i] > u })]++
	}
	counts := make(map[string]int, len(hits))
	for x, n := range hits {
		counts[Bitstring(x, m)] = n
	}
	return counts, nil
}
