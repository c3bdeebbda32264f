package quantum

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Pauli is one factor of a Pauli-string observable: X, Y or Z on a qubit.
type Pauli struct {
	Op    byte // 'X', 'Y' or 'Z'
	Qubit int
}

// ParseObservable reads a Pauli string such as "Z0 Z1", "X0*Y2", "z0 @ z1" or "I" (the identity): factors of
// X, Y, Z or I followed by a qubit index, separated by spaces, '*' or '@', each qubit at most once. Identity
// factors are dropped; the result is sorted by qubit.
func ParseObservable(s string) ([]Pauli, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == '*' || r == '@' })
	if len(fields) == 0 {
		return nil, fmt.Errorf("observable %q: empty (write I for the identity)", s)
	}
	var out []Pauli
	seen := map[int]bool{}
	for _, f := range fields {
		op := strings.ToUpper(f[:1])[0]
		if f == "I" || f == "i" {
			continue
		}
		if !strings.ContainsRune("XYZI", rune(op)) {
			return nil, fmt.Errorf("observable %q: factor %q is not X, Y, Z or I followed by a qubit", s, f)
		}
		q, err := strconv.Atoi(f[1:])
		if err != nil || q < 0 {
			return nil, fmt.Errorf("observable %q: factor %q needs a qubit index, as in %c0", s, f, op)
		}
		if seen[q] {
			return nil, fmt.Errorf("observable %q: qubit %d appears twice", s, q)
		}
		seen[q] = true
		if op != 'I' {
			out = append(out, Pauli{Op: op, Qubit: q})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Qubit < out[j].Qubit })
	return out, nil
}

// FormatObservable writes Pauli factors as ParseObservable reads them: "Z0 Z1", or "I" for none.
func FormatObservable(ps []Pauli) string {
	if len(ps) == 0 {
		return "I"
	}
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = string(p.Op) + strconv.Itoa(p.Qubit)
	}
	return strings.Join(parts, " ")
}
