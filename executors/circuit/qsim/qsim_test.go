package qsim

import (
	"context"
	"math"
	"math/cmplx"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govalent/govalent/ct/quantum"
)

const eps = 1e-10

func run(t *testing.T, c *quantum.Circuit, shots int, seed int64, obs ...string) quantum.Result {
	t.Helper()
	job, err := c.Job(shots, obs...)
	if err != nil {
		t.Fatal(err)
	}
	job.Seed = seed
	res, err := RunJob(context.Background(), job, limits(24))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestBell(t *testing.T) {
	c := quantum.New(2).H(0).CX(0, 1).Measure()
	res := run(t, c, 0, 0, "Z0 Z1", "X0 X1", "Y0 Y1", "Z0")
	if len(res.Probabilities) != 2 || math.Abs(res.Probabilities["00"]-0.5) > eps || math.Abs(res.Probabilities["11"]-0.5) > eps {
		t.Fatalf("Bell probabilities %v", res.Probabilities)
	}
	want := map[string]float64{"Z0 Z1": 1, "X0 X1": 1, "Y0 Y1": -1, "Z0": 0}
	for k, v := range want {
		if math.Abs(res.Expectations[k]-v) > eps {
			t.Errorf("<%s> = %v, want %v", k, res.Expectations[k], v)
		}
	}
	if !reflect.DeepEqual(res.MeasuredQubits, []int{0, 1}) || res.Counts != nil {
		t.Fatalf("measured %v counts %v", res.MeasuredQubits, res.Counts)
	}

	// Sampling: only 00 and 11, about half each, and the same counts for the same seed.
	a := run(t, c, 4000, 7)
	b := run(t, c, 4000, 7)
	if !reflect.DeepEqual(a.Counts, b.Counts) || a.Seed != 7 {
		t.Fatalf("same seed, different counts: %v %v", a.Counts, b.Counts)
	}
	if len(a.Counts) != 2 || a.Counts["00"]+a.Counts["11"] != 4000 || a.Counts["00"] < 1800 || a.Counts["00"] > 2200 {
		t.Fatalf("Bell counts %v", a.Counts)
	}
	if a.Probabilities["00"] != float64(a.Counts["00"])/4000 {
		t.Fatalf("sampled probabilities %v do not match counts %v", a.Probabilities, a.Counts)
	}
	// An unseeded run picks a seed and reports it, and that seed reproduces it.
	r := run(t, c, 100, 0)
	if r.Seed == 0 || !reflect.DeepEqual(run(t, c, 100, r.Seed).Counts, r.Counts) {
		t.Fatalf("unseeded run: seed %d not reproducible", r.Seed)
	}
}

func TestGHZ(t *testing.T) {
	for _, n := range []int{3, 12, 20} { // 20 qubits runs the parallel kernels
		c := quantum.New(n).H(0)
		for q := 1; q < n; q++ {
			c.CX(q-1, q)
		}
		res := run(t, c, 0, 0, "Z0 Z"+strconv.Itoa(n-1), "X0")
		zeros, ones := strings.Repeat("0", n), strings.Repeat("1", n)
		if len(res.Probabilities) != 2 || math.Abs(res.Probabilities[zeros]-0.5) > eps || math.Abs(res.Probabilities[ones]-0.5) > eps {
			t.Fatalf("GHZ(%d) probabilities %v", n, res.Probabilities)
		}
		if math.Abs(res.Expectations["Z0 Z"+strconv.Itoa(n-1)]-1) > eps || math.Abs(res.Expectations["X0"]) > eps {
			t.Fatalf("GHZ(%d) expectations %v", n, res.Expectations)
		}
		xs := ""
		for q := 0; q < n; q++ {
			xs += " X" + strconv.Itoa(q)
		}
		s := state(t, c)
		if v, _ := s.Expectation(mustObs(t, xs)); math.Abs(v-1) > eps {
			t.Fatalf("GHZ(%d) <X...X> = %v", n, v)
		}
	}
}

func mustObs(t *testing.T, s string) []quantum.Pauli {
	t.Helper()
	ps, err := quantum.ParseObservable(s)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func state(t *testing.T, c *quantum.Circuit) *State {
	t.Helper()
	ops, err := c.Ops(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(c.NumQubits())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background(), ops); err != nil {
		t.Fatal(err)
	}
	return s
}

// bigEndian reads index i with qubit 0 as the most significant bit.
func bigEndian(i, n int) int {
	x := 0
	for q := 0; q < n; q++ {
		x |= (i >> q & 1) << (n - 1 - q)
	}
	return x
}

// TestQFT checks the textbook circuit against the analytic transform |x> -> N^-1/2 Σ_y e^{2πixy/N} |y>.
func TestQFT(t *testing.T) {
	for _, tc := range []struct{ n, x int }{{1, 1}, {3, 5}, {5, 0}, {5, 19}, {8, 200}, {16, 40503}} {
		n, N := tc.n, 1<<tc.n
		c := quantum.New(n)
		for q := 0; q < n; q++ {
			if tc.x>>(n-1-q)&1 == 1 {
				c.X(q)
			}
		}
		for j := 0; j < n; j++ {
			c.H(j)
			for k := j + 1; k < n; k++ {
				c.CPhase(k, j, math.Pi/float64(int(1)<<(k-j)))
			}
		}
		for j := 0; j < n/2; j++ {
			c.Swap(j, n-1-j)
		}
		amp := state(t, c).Amplitudes()
		for i, a := range amp {
			y := bigEndian(i, n)
			want := cmplx.Exp(complex(0, 2*math.Pi*float64(tc.x*y%N)/float64(N))) / complex(math.Sqrt(float64(N)), 0)
			if cmplx.Abs(a-want) > eps {
				t.Fatalf("QFT n=%d x=%d: amplitude of y=%d is %v, want %v", n, tc.x, y, a, want)
			}
		}
	}
}

// The dense reference: every gate as a sum of Kronecker products of 2x2 matrices written from their
// definitions (rotations from Pauli matrices, swap as (II+XX+YY+ZZ)/2), multiplied into the state as a full
// 2^n x 2^n matrix. It shares nothing with the simulator's kernels or its gate matrices.
type mat2 = [2][2]complex128

var (
	pI = mat2{{1, 0}, {0, 1}}
	pX = mat2{{0, 1}, {1, 0}}
	pY = mat2{{0, -1i}, {1i, 0}}
	pZ = mat2{{1, 0}, {0, -1}}
	p1 = mat2{{0, 0}, {0, 1}} // |1><1|
)

func lin(a complex128, x mat2, b complex128, y mat2) mat2 {
	var m mat2
	for i := range 2 {
		for j := range 2 {
			m[i][j] = a*x[i][j] + b*y[i][j]
		}
	}
	return m
}

func mul2(x, y mat2) mat2 {
	var m mat2
	for i := range 2 {
		for j := range 2 {
			m[i][j] = x[i][0]*y[0][j] + x[i][1]*y[1][j]
		}
	}
	return m
}

func rot(p mat2, th float64) mat2 {
	return lin(complex(math.Cos(th/2), 0), pI, complex(0, -math.Sin(th/2)), p)
}

func phase(th float64) mat2 { return mat2{{1, 0}, {0, cmplx.Exp(complex(0, th))}} }

func refMatrix(gate string, p []float64) mat2 {
	switch gate {
	case "i":
		return pI
	case "h":
		return lin(complex(1/math.Sqrt2, 0), pX, complex(1/math.Sqrt2, 0), pZ)
	case "x":
		return pX
	case "y":
		return pY
	case "z":
		return pZ
	case "s":
		return phase(math.Pi / 2)
	case "sdg":
		return phase(-math.Pi / 2)
	case "t":
		return phase(math.Pi / 4)
	case "tdg":
		return phase(-math.Pi / 4)
	case "rx":
		return rot(pX, p[0])
	case "ry":
		return rot(pY, p[0])
	case "rz":
		return rot(pZ, p[0])
	case "phase":
		return phase(p[0])
	case "u": // U(θ,φ,λ) = e^{i(φ+λ)/2} RZ(φ) RY(θ) RZ(λ)
		m := mul2(rot(pZ, p[1]), mul2(rot(pY, p[0]), rot(pZ, p[2])))
		return lin(cmplx.Exp(complex(0, (p[1]+p[2])/2)), m, 0, pI)
	}
	panic(gate)
}

// term is coef times the tensor product of factors (qubit -> 2x2), identity elsewhere.
type term struct {
	coef    complex128
	factors map[int]mat2
}

// addKron adds the term's 2^n x 2^n matrix to u. An entry is the product of the factors' entries, and 0 where
// a qubit without a factor (the identity) differs between row and column.
func addKron(u [][]complex128, n int, t term) {
	idMask := 1<<n - 1
	for q := range t.factors {
		idMask &^= 1 << q
	}
	for i := range u {
		for j := range u[i] {
			if (i^j)&idMask != 0 {
				continue
			}
			v := t.coef
			for q, f := range t.factors {
				v *= f[i>>q&1][j>>q&1]
			}
			u[i][j] += v
		}
	}
}

// opTerms writes a controlled gate as I - P + P·G, with P the projector on all controls being 1.
func opTerms(op quantum.Op) []term {
	ctl := map[int]mat2{}
	for _, c := range op.Qubits[:op.Controls] {
		ctl[c] = p1
	}
	with := func(coef complex128, extra map[int]mat2) term {
		f := map[int]mat2{}
		for q, m := range ctl {
			f[q] = m
		}
		for q, m := range extra {
			f[q] = m
		}
		return term{coef, f}
	}
	terms := []term{{1, nil}, with(-1, nil)}
	t := op.Qubits[op.Controls:]
	if op.Gate == "swap" {
		for _, p := range []mat2{pI, pX, pY, pZ} {
			terms = append(terms, with(0.5, map[int]mat2{t[0]: p, t[1]: p}))
		}
		return terms
	}
	return append(terms, with(1, map[int]mat2{t[0]: refMatrix(op.Gate, op.Params)}))
}

func denseRun(n int, ops []quantum.Op) []complex128 {
	N := 1 << n
	psi := make([]complex128, N)
	psi[0] = 1
	for _, op := range ops {
		u := make([][]complex128, N)
		for i := range u {
			u[i] = make([]complex128, N)
		}
		for _, t := range opTerms(op) {
			addKron(u, n, t)
		}
		next := make([]complex128, N)
		for i := range u {
			for j, v := range u[i] {
				next[i] += v * psi[j]
			}
		}
		psi = next
	}
	return psi
}

var allGates = []string{"i", "h", "x", "y", "z", "s", "sdg", "t", "tdg", "rx", "ry", "rz", "phase", "u", "swap",
	"cx", "cy", "cz", "ch", "crx", "cry", "crz", "cphase", "cu", "ccx", "cswap"}

// randomCircuit draws gates of the whole set, some with extra ctrl @ controls.
func randomCircuit(rng *rand.Rand, n, gates int) *quantum.Circuit {
	c := quantum.New(n)
	for added := 0; added < gates; {
		g, _ := quantum.LookupGate(allGates[rng.IntN(len(allGates))])
		extra := rng.IntN(3)
		if g.Qubits()+extra > n {
			continue
		}
		qs := rng.Perm(n)[:g.Qubits()+extra]
		angles := make([]any, g.Params)
		for i := range angles {
			angles[i] = (rng.Float64() - 0.5) * 4 * math.Pi
		}
		c.Ctrl(qs[:extra], g.Name, qs[extra:], angles...)
		added++
	}
	return c
}

// TestRandomCircuitsDense compares random circuits, exported to OpenQASM and parsed back, with the dense
// reference on 1 to 10 qubits.
func TestRandomCircuitsDense(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 1; n <= 10; n++ {
		gates := 40
		if n >= 9 {
			gates = 16 // the reference builds a 2^n x 2^n matrix per gate
		}
		c := randomCircuit(rng, n, gates)
		ops, err := c.Ops(nil)
		if err != nil {
			t.Fatal(err)
		}
		want := denseRun(n, ops)
		res := run(t, c, 0, 0)
		amp := state(t, c).Amplitudes()
		for i := range want {
			if cmplx.Abs(amp[i]-want[i]) > eps {
				src, _ := c.ToQASM()
				t.Fatalf("n=%d: amplitude %d is %v, dense reference %v\n%s", n, i, amp[i], want[i], src)
			}
			p := real(want[i])*real(want[i]) + imag(want[i])*imag(want[i])
			if got := res.Probabilities[Bitstring(bigEndian(i, n), n)]; math.Abs(got-p) > eps {
				t.Fatalf("n=%d: P(%s) = %v through OpenQASM, want %v", n, Bitstring(bigEndian(i, n), n), got, p)
			}
		}
	}
}

// TestInverseRestores runs a random 16-qubit circuit (parallel kernels) and its inverse, written with inv @,
// and expects |0...0> back.
func TestInverseRestores(t *testing.T) {
	c := randomCircuit(rand.New(rand.NewPCG(3, 4)), 16, 60)
	src, err := c.ToQASM()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(src), "\n")
	var inv []string
	for i := len(lines) - 1; i >= 0 && !strings.HasPrefix(lines[i], "qubit"); i-- {
		inv = append(inv, "inv @ "+lines[i])
	}
	res, err := RunJob(context.Background(), quantum.Job{QASM: src + strings.Join(inv, "\n")}, limits(20))
	if err != nil {
		t.Fatal(err)
	}
	zeros := strings.Repeat("0", 16)
	if len(res.Probabilities) != 1 || math.Abs(res.Probabilities[zeros]-1) > eps {
		t.Fatalf("U then U† gave %d outcomes, P(0) = %v", len(res.Probabilities), res.Probabilities[zeros])
	}
}

func TestMeasuredSubset(t *testing.T) {
	// X on qubit 2 only; measuring 2 then 0 gives "10".
	res := run(t, quantum.New(3).X(2).Measure(2, 0), 10, 1)
	if !reflect.DeepEqual(res.Counts, map[string]int{"10": 10}) || !reflect.DeepEqual(res.MeasuredQubits, []int{2, 0}) {
		t.Fatalf("counts %v measured %v", res.Counts, res.MeasuredQubits)
	}
}

func TestJobErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		job  quantum.Job
		want string
	}{
		{quantum.Job{QASM: "qubit[30] q;"}, "limited to 24"},
		{quantum.Job{QASM: "qubit q;\nh r;"}, "2:3: r is not a qubit register"},
		{quantum.Job{QASM: "input float a;\nqubit q;\nrx(a) q;"}, `no value for input parameter "a"`},
		{quantum.Job{QASM: "qubit q;", Inputs: map[string]float64{"b": 1}}, `input "b" is not a parameter`},
		{quantum.Job{QASM: "qubit q;", Observables: []string{"Z1"}}, "qubit 1 of 1"},
		{quantum.Job{QASM: "qubit q;", Observables: []string{"W0"}}, "not X, Y, Z or I"},
		{quantum.Job{QASM: "qubit q;", Shots: -1}, "shots must be from 0 to 1000000"},
		{quantum.Job{QASM: "qubit q;", Shots: quantum.MaxShots + 1}, "shots must be from 0 to 1000000"},
		{quantum.Job{QASM: ""}, "no OpenQASM program"},
		{quantum.Job{QASM: "qubit[21] q; h q;"}, "2097152 outcomes have a probability above 1e-15: more than the 1048576"},
	} {
		_, err := RunJob(ctx, tc.job, limits(24))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.job, err, tc.want)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := RunJob(cancelled, quantum.Job{QASM: "qubit q; h q;"}, limits(24)); err != context.Canceled {
		t.Errorf("cancelled run: %v", err)
	}
}

// Sampling stops when its job is cancelled.
func TestSamplingStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Sample(ctx, []float64{0.5, 0.5}, quantum.MaxShots, 1, rand.New(rand.NewPCG(1, 2))); err != context.Canceled {
		t.Fatalf("err %v", err)
	}
}

// An unknown gate is an error, never a panic.
func TestMatrixOfAnUnknownGate(t *testing.T) {
	if _, err := Matrix("frobnicate", nil); err == nil || !strings.Contains(err.Error(), "unknown gate") {
		t.Fatalf("err %v", err)
	}
}

func limits(qubits int) Limits {
	return Limits{Qubits: qubits, Gates: 1 << 18, Memory: NewBudget(4<<30, "the test")}
}

// A job that cannot fit the budget fails with what it needs and the budget, before its state is allocated;
// the budget is whole again afterwards.
func TestBudgetRefusesWhatCannotFit(t *testing.T) {
	lim := Limits{Qubits: 24, Gates: 1000, Memory: NewBudget(64<<20, "the test")}
	_, err := RunJob(context.Background(), quantum.Job{QASM: "qubit[22] q; h q;", Shots: 10}, lim)
	if err == nil || !strings.Contains(err.Error(), "a 22-qubit state: 96 MiB") || !strings.Contains(err.Error(), "the memory budget of the test is 64 MiB") {
		t.Fatalf("err %v", err)
	}
	// The parse alone: 1000 gates on 24 qubits are 0.9 MiB, a 1 MiB text 128 MiB more.
	_, err = RunJob(context.Background(), quantum.Job{QASM: "qubit q;" + strings.Repeat(" ", 1<<20), Shots: 10}, lim)
	if err == nil || !strings.Contains(err.Error(), "parsing a 1 MiB program of up to 1000 gates on 24 qubits needs 128.9 MiB of memory") {
		t.Fatalf("err %v", err)
	}
	// Beyond the qubit limit, the error says what the state would take.
	_, err = RunJob(context.Background(), quantum.Job{QASM: "qubit[20] q; qubit[44] r;"}, lim)
	if err == nil || !strings.Contains(err.Error(), "the program has 64 qubits; this simulator is limited to 24 (a 64-qubit state needs 384 EiB, a 24-qubit one 384 MiB)") {
		t.Fatalf("err %v", err)
	}
	res, err := RunJob(context.Background(), quantum.Job{QASM: "qubit[16] q; h q;", Shots: 10, Seed: 1}, lim)
	if err != nil || res.Counts == nil {
		t.Fatalf("a job within the budget: %v", err)
	}
	if !lim.Memory.sem.TryAcquire(lim.Memory.Bytes()) {
		t.Fatal("the jobs did not give their memory back")
	}
}

// A job that fits waits for room: it does not run beside jobs that hold the budget.
func TestBudgetWaitsForRoom(t *testing.T) {
	lim := Limits{Qubits: 20, Gates: 1000, Memory: NewBudget(64<<20, "the test")}
	job := quantum.Job{QASM: "qubit[20] q; h q;", Shots: 10, Seed: 1} // 24 MiB of state
	if !lim.Memory.sem.TryAcquire(48 << 20) {
		t.Fatal("empty budget")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := RunJob(ctx, job, lim); done <- err }()
	// It parses (the parse's share fits), then waits for the rest: the semaphore has a waiter, so it refuses
	// even a byte.
	for deadline := time.Now().Add(time.Minute); lim.Memory.sem.TryAcquire(1); {
		lim.Memory.sem.Release(1)
		if time.Now().After(deadline) {
			t.Fatal("the job never waited")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("waiting job: %v", err)
	}
	lim.Memory.sem.Release(48 << 20)
	if _, err := RunJob(context.Background(), job, lim); err != nil {
		t.Fatal(err)
	}
}
