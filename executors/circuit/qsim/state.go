// Package qsim is an exact state-vector simulator: 2^n complex128 amplitudes, every gate applied in place
// over all cores, seeded sampling of the measured qubits, exact probabilities and Pauli expectation values.
//
// Amplitude index bit q holds qubit q (little-endian in memory); outcomes are reported as big-endian
// bitstrings whose character j is the value of the j-th measured qubit, as Braket does.
package qsim

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"math/cmplx"
	"runtime"
	"sync"

	"github.com/govalent/govalent/ct/quantum"
)

// MaxQubits is the most a State can hold: 2^32 amplitudes are 64 GiB.
const MaxQubits = 32

// State is an n-qubit state vector.
type State struct {
	n   int
	amp []complex128
}

// New is |0...0> on n qubits.
func New(n int) (*State, error) {
	if n < 1 || n > MaxQubits {
		return nil, fmt.Errorf("qsim: %d qubits: the simulator takes 1 to %d", n, MaxQubits)
	}
	s := &State{n: n, amp: make([]complex128, 1<<n)}
	s.amp[0] = 1
	return s, nil
}

// NumQubits is n.
func (s *State) NumQubits() int { return s.n }

// Amplitudes is the state vector itself (index bit q is qubit q); callers must not keep it across gates.
func (s *State) Amplitudes() []complex128 { return s.amp }

// parallelMin is the smallest loop split across goroutines: below it the goroutines cost more than they save.
const parallelMin = 1 << 14

// chunks is how many pieces a loop over n items is cut into (fixed for a given n and GOMAXPROCS, so that
// reductions add their partial sums in the same order every run).
func chunks(n int) int {
	if n < parallelMin {
		return 1
	}
	return runtime.GOMAXPROCS(0)
}

// parallel runs fn over [0, n) in chunks(n) contiguous pieces, one goroutine each.
func parallel(n int, fn func(chunk, lo, hi int)) {
	c := chunks(n)
	if c == 1 {
		fn(0, 0, n)
		return
	}
	var wg sync.WaitGroup
	for i := 0; i < c; i++ {
		lo, hi := n*i/c, n*(i+1)/c
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(i, lo, hi)
		}()
	}
	wg.Wait()
}

// insertZero inserts a 0 bit at position b of k.
func insertZero(k, b int) int { return (k>>b)<<(b+1) | k&(1<<b-1) }

// Apply1 applies the 2x2 unitary m to qubit target on the amplitudes whose control qubits are all 1.
//
// Amplitude pairs (i, i+2^target) come in runs of 2^target consecutive indices; each run is handed to a
// kernel as two slices, so the inner loops are plain strided loops. Target 0 has runs of one pair, so it is
// one strided run over the whole chunk instead.
func (s *State) Apply1(m [2][2]complex128, target int, controls []int) {
	cm := 0
	for _, c := range controls {
		cm |= 1 << c
	}
	tb := 1 << target
	amp := s.amp
	g := pairGate{m: m, cm: cm}
	// Two cheaper kernels: diagonal gates (z, s, t, rz, phase) multiply each amplitude once, real matrices (h,
	// x, ry) need half the multiplications of complex ones.
	switch {
	case m[0][1] == 0 && m[1][0] == 0:
		g.kind = diagonalGate
	case imag(m[0][0]) == 0 && imag(m[0][1]) == 0 && imag(m[1][0]) == 0 && imag(m[1][1]) == 0:
		g.kind = realGate
	}
	parallel(len(amp)/2, func(_, lo, hi int) {
		if target == 0 {
			g.apply(amp[2*lo:2*hi], amp[2*lo+1:2*hi], hi-lo, 2, 2*lo)
			return
		}
		for k := lo; k < hi; {
			i0 := insertZero(k, target)
			run := min(tb-k&(tb-1), hi-k)
			g.apply(amp[i0:i0+run], amp[i0+tb:i0+tb+run], run, 1, i0)
			k += run
		}
	})
}

const (
	generalGate = iota
	diagonalGate
	realGate
)

// pairGate is a 2x2 gate with its control mask and the kernel that suits its matrix.
type pairGate struct {
	m    [2][2]complex128
	cm   int
	kind int
}

// apply updates n pairs (x[j*stride], y[j*stride]); base is the state index of x[0], for the controls.
func (g *pairGate) apply(x, y []complex128, n, stride, base int) {
	m00, m01, m10, m11 := g.m[0][0], g.m[0][1], g.m[1][0], g.m[1][1]
	cm := g.cm
	switch g.kind {
	case diagonalGate:
		for j := 0; j < n; j++ {
			i := j * stride
			if cm != 0 && (base+i)&cm != cm {
				continue
			}
			x[i] *= m00
			y[i] *= m11
		}
	case realGate:
		r00, r01, r10, r11 := real(m00), real(m01), real(m10), real(m11)
		for j := 0; j < n; j++ {
			i := j * stride
			if cm != 0 && (base+i)&cm != cm {
				continue
			}
			a, b := x[i], y[i]
			x[i] = complex(r00*real(a)+r01*real(b), r00*imag(a)+r01*imag(b))
			y[i] = complex(r10*real(a)+r11*real(b), r10*imag(a)+r11*imag(b))
		}
	default:
		for j := 0; j < n; j++ {
			i := j * stride
			if cm != 0 && (base+i)&cm != cm {
				continue
			}
			a, b := x[i], y[i]
			x[i] = m00*a + m01*b
			y[i] = m10*a + m11*b
		}
	}
}

// Swap exchanges qubits a and b on the amplitudes whose control qubits are all 1.
func (s *State) Swap(a, b int, controls []int) {
	cm := 0
	for _, c := range controls {
		cm |= 1 << c
	}
	lo, hi := min(a, b), max(a, b)
	amp := s.amp
	parallel(len(amp)/4, func(_, from, to int) {
		for k := from; k < to; k++ {
			i := insertZero(insertZero(k, lo), hi)
			if i&cm != cm {
				continue
			}
			i01, i10 := i|1<<a, i|1<<b
			amp[i01], amp[i10] = amp[i10], amp[i01]
		}
	})
}

// Matrix is the unitary of a single-qubit base gate.
func Matrix(gate string, params []float64) ([2][2]complex128, error) {
	want := map[string]int{"rx": 1, "ry": 1, "rz": 1, "phase": 1, "u": 3}[gate]
	if len(params) != want {
		return [2][2]complex128{}, fmt.Errorf("qsim: gate %s takes %d angles, got %d", gate, want, len(params))
	}
	r := complex(math.Sqrt2/2, 0)
	switch gate {
	case "i":
		return [2][2]complex128{{1, 0}, {0, 1}}, nil
	case "h":
		return [2][2]complex128{{r, r}, {r, -r}}, nil
	case "x":
		return [2][2]complex128{{0, 1}, {1, 0}}, nil
	case "y":
		return [2][2]complex128{{0, -1i}, {1i, 0}}, nil
	case "z":
		return [2][2]complex128{{1, 0}, {0, -1}}, nil
	case "s":
		return [2][2]complex128{{1, 0}, {0, 1i}}, nil
	case "sdg":
		return [2][2]complex128{{1, 0}, {0, -1i}}, nil
	case "t":
		return [2][2]complex128{{1, 0}, {0, complex(math.Sqrt2/2, math.Sqrt2/2)}}, nil
	case "tdg":
		return [2][2]complex128{{1, 0}, {0, complex(math.Sqrt2/2, -math.Sqrt2/2)}}, nil
	}
	if want == 0 {
		return [2][2]complex128{}, fmt.Errorf("qsim: unknown gate %q", gate)
	}
	th := params[0]
	c, sn := complex(math.Cos(th/2), 0), complex(math.Sin(th/2), 0)
	switch gate {
	case "rx":
		return [2][2]complex128{{c, -1i * sn}, {-1i * sn, c}}, nil
	case "ry":
		return [2][2]complex128{{c, -sn}, {sn, c}}, nil
	case "rz":
		return [2][2]complex128{{cmplx.Exp(complex(0, -th/2)), 0}, {0, cmplx.Exp(complex(0, th/2))}}, nil
	case "phase":
		return [2][2]complex128{{1, 0}, {0, cmplx.Exp(complex(0, th))}}, nil
	case "u":
		phi, lambda := params[1], params[2]
		return [2][2]complex128{
			{c, -cmplx.Exp(complex(0, lambda)) * sn},
			{cmplx.Exp(complex(0, phi)) * sn, cmplx.Exp(complex(0, phi+lambda)) * c},
		}, nil
	}
	return [2][2]complex128{}, fmt.Errorf("qsim: unknown gate %q", gate)
}

// Apply applies one op.
func (s *State) Apply(op quantum.Op) error {
	nt := 1
	if op.Gate == "swap" {
		nt = 2
	}
	if len(op.Qubits) != op.Controls+nt || op.Controls < 0 {
		return fmt.Errorf("qsim: %s with %d controls on %d qubits", op.Gate, op.Controls, len(op.Qubits))
	}
	seen := 0
	for _, q := range op.Qubits {
		if q < 0 || q >= s.n {
			return fmt.Errorf("qsim: %s on qubit %d of %d", op.Gate, q, s.n)
		}
		if seen&(1<<q) != 0 {
			return fmt.Errorf("qsim: %s uses qubit %d twice", op.Gate, q)
		}
		seen |= 1 << q
	}
	controls := op.Qubits[:op.Controls]
	if op.Gate == "swap" {
		s.Swap(op.Qubits[op.Controls], op.Qubits[op.Controls+1], controls)
		return nil
	}
	m, err := Matrix(op.Gate, op.Params)
	if err != nil {
		return err
	}
	s.Apply1(m, op.Qubits[op.Controls], controls)
	return nil
}

// Run applies ops in order, stopping early if ctx is done.
func (s *State) Run(ctx context.Context, ops []quantum.Op) error {
	for _, op := range ops {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.Apply(op); err != nil {
			return err
		}
	}
	return nil
}

// Probabilities is the distribution of the outcomes of measuring qubits: entry x is the probability that
// qubit qubits[j] reads bit m-1-j of x (big-endian, as the bitstrings).
func (s *State) Probabilities(qubits []int) []float64 {
	m := len(qubits)
	// shift[q] is where qubit q lands in the outcome index.
	type place struct{ from, to int }
	places := make([]place, m)
	for j, q := range qubits {
		places[j] = place{q, m - 1 - j}
	}
	outcome := func(i int) int {
		x := 0
		for _, p := range places {
			x |= (i >> p.from & 1) << p.to
		}
		return x
	}
	amp := s.amp
	c := chunks(len(amp))
	if m > 16 { // per-chunk tables would be too big: one pass, one table
		c = 1
	}
	parts := make([][]float64, c)
	var wg sync.WaitGroup
	for i := 0; i < c; i++ {
		lo, hi := len(amp)*i/c, len(amp)*(i+1)/c
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := make([]float64, 1<<m)
			for k := lo; k < hi; k++ {
				a := amp[k]
				p[outcome(k)] += real(a)*real(a) + imag(a)*imag(a)
			}
			parts[i] = p
		}()
	}
	wg.Wait()
	for _, p := range parts[1:] {
		for x, v := range p {
			parts[0][x] += v
		}
	}
	return parts[0]
}

// Expectation is <ψ|P|ψ> for the Pauli string P.
func (s *State) Expectation(ps []quantum.Pauli) (float64, error) {
	var flip, sign, ys int // qubits flipped (X, Y), qubits whose 1 gives a -1 (Y, Z), number of Ys
	for _, p := range ps {
		if p.Qubit < 0 || p.Qubit >= s.n {
			return 0, fmt.Errorf("qsim: observable on qubit %d of %d", p.Qubit, s.n)
		}
		switch p.Op {
		case 'X':
			flip |= 1 << p.Qubit
		case 'Y':
			flip |= 1 << p.Qubit
			sign |= 1 << p.Qubit
			ys++
		case 'Z':
			sign |= 1 << p.Qubit
		default:
			return 0, fmt.Errorf("qsim: unknown Pauli %q", p.Op)
		}
	}
	// P|i> = i^ys (-1)^popcount(i&sign) |i^flip>, so <ψ|P|ψ> = Σ conj(ψ[i^flip]) ψ[i] i^ys (-1)^...
	phase := []complex128{1, 1i, -1, -1i}[ys%4]
	amp := s.amp
	sums := make([]complex128, chunks(len(amp)))
	parallel(len(amp), func(chunk, lo, hi int) {
		var sum complex128
		for i := lo; i < hi; i++ {
			t := cmplx.Conj(amp[i^flip]) * amp[i]
			if bits.OnesCount(uint(i&sign))&1 == 1 {
				t = -t
			}
			sum += t
		}
		sums[chunk] = sum
	})
	var total complex128
	for _, v := range sums {
		total += v
	}
	return real(total * phase), nil
}
