package quantum

// Op is one gate of a circuit with its angles bound: what the simulators run. Controlled gates are normalised
// to their base gate with controls (cx is x with one control, ccx is x with two, crx is rx with one), so a
// circuit built with the API and the same circuit parsed from OpenQASM give equal ops.
type Op struct {
	// Gate is a base gate: i h x y z s sdg t tdg rx ry rz phase u swap.
	Gate string `json:"gate"`
	// Qubits are the control qubits (Controls of them) followed by the gate's own qubits.
	Qubits   []int     `json:"qubits"`
	Controls int       `json:"controls,omitempty"`
	Params   []float64 `json:"params,omitempty"`
}

// GateInfo describes a gate of the standard set.
type GateInfo struct {
	Name     string // canonical name (the circuit API's)
	Base     string // base gate the simulators apply
	Controls int    // controls built into the gate (cx: 1, ccx: 2)
	Targets  int    // qubits of the base gate
	Params   int    // angles
	// Braket is the name of the gate in Braket's OpenQASM gate set; empty when it has none and the exporter
	// writes the base gate with a ctrl @ modifier.
	Braket string
}

// Qubits is the number of qubits the gate acts on, controls included.
func (g GateInfo) Qubits() int { return g.Controls + g.Targets }

var gateTable = map[string]GateInfo{}

func init() {
	for _, g := range []GateInfo{
		{"i", "i", 0, 1, 0, "i"},
		{"h", "h", 0, 1, 0, "h"},
		{"x", "x", 0, 1, 0, "x"},
		{"y", "y", 0, 1, 0, "y"},
		{"z", "z", 0, 1, 0, "z"},
		{"s", "s", 0, 1, 0, "s"},
		{"sdg", "sdg", 0, 1, 0, "si"},
		{"t", "t", 0, 1, 0, "t"},
		{"tdg", "tdg", 0, 1, 0, "ti"},
		{"rx", "rx", 0, 1, 1, "rx"},
		{"ry", "ry", 0, 1, 1, "ry"},
		{"rz", "rz", 0, 1, 1, "rz"},
		{"phase", "phase", 0, 1, 1, "phaseshift"},
		{"u", "u", 0, 1, 3, "U"},
		{"swap", "swap", 0, 2, 0, "swap"},
		{"cx", "x", 1, 1, 0, "cnot"},
		{"cy", "y", 1, 1, 0, "cy"},
		{"cz", "z", 1, 1, 0, "cz"},
		{"ch", "h", 1, 1, 0, ""},
		{"crx", "rx", 1, 1, 1, ""},
		{"cry", "ry", 1, 1, 1, ""},
		{"crz", "rz", 1, 1, 1, ""},
		{"cphase", "phase", 1, 1, 1, "cphaseshift"},
		{"cu", "u", 1, 1, 3, ""},
		{"ccx", "x", 2, 1, 0, "ccnot"},
		{"cswap", "swap", 1, 2, 0, "cswap"},
	} {
		gateTable[g.Name] = g
	}
}

// gateAliases are the other names OpenQASM programs use: Braket's gate set and OpenQASM's stdgates.inc.
var gateAliases = map[string]string{
	"id": "i", "si": "sdg", "ti": "tdg", "p": "phase", "phaseshift": "phase", "U": "u", "u3": "u",
	"cnot": "cx", "CX": "cx", "cp": "cphase", "cphaseshift": "cphase", "ccnot": "ccx",
}

// LookupGate finds a gate of the standard set by its name or one of its OpenQASM aliases (cnot, si, ti,
// phaseshift, U, ccnot, cphaseshift, p, cp, id, u3, CX).
func LookupGate(name string) (GateInfo, bool) {
	if canon, ok := gateAliases[name]; ok {
		name = canon
	}
	g, ok := gateTable[name]
	return g, ok
}
