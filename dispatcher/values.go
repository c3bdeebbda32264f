package dispatcher

import (
	"fmt"
	"net/http"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/ct/codec"
)

// Values are encoded (package ct/codec) everywhere past the API: constants in graphs, task arguments, outputs
// and results. JSON reaches the engine only from clients in other languages (Arg.Value, the request's Inputs)
// and from dispatches stored before values were encoded; encode turns both into the encoding.

// encodedNull is what a node without a value passes on.
var encodedNull = func() []byte { b, _ := codec.Marshal(nil); return b }()

// encode returns v encoded: as it is if it already is, converted if it is JSON; empty stays empty.
func encode(v []byte) ([]byte, error) {
	if len(v) == 0 || codec.IsEncoded(v) {
		return v, nil
	}
	return codec.FromJSON(v)
}

// encodeGraph encodes the constants of g that came as JSON.
func encodeGraph(g *ct.Graph) error {
	fix := func(a *ct.Arg) error {
		if len(a.Encoded) > 0 {
			return checkEncoded(a.Encoded)
		}
		if len(a.Value) == 0 {
			return nil
		}
		enc, err := codec.FromJSON(a.Value)
		if err != nil {
			return fmt.Errorf("a constant is not JSON: %w", err)
		}
		a.Encoded, a.Value = enc, nil
		return nil
	}
	for i := range g.Nodes {
		for k := range g.Nodes[i].Args {
			if err := fix(&g.Nodes[i].Args[k]); err != nil {
				return fmt.Errorf("node %d (%s) argument %d: %w", i, g.Nodes[i].Name, k+1, err)
			}
		}
	}
	if err := fix(&g.Output); err != nil {
		return fmt.Errorf("the output: %w", err)
	}
	return nil
}

// checkEncoded refuses what a client sent as an encoded value but is not one, before a worker or a selection
// node meets it.
func checkEncoded(v []byte) error {
	if !codec.IsEncoded(v) {
		return fmt.Errorf("an encoded value must start with the self-describe tag (d9 d9 f7)")
	}
	if err := codec.Check(v); err != nil {
		return fmt.Errorf("not a well-formed encoded value: %w", err)
	}
	return nil
}

// encodeInputs is a request's lattice arguments, encoded.
func encodeInputs(req *ct.DispatchRequest) ([]byte, error) {
	if len(req.EncodedInputs) > 0 {
		if err := checkEncoded(req.EncodedInputs); err != nil {
			return nil, fmt.Errorf("inputs_encoded: %w", err)
		}
		return req.EncodedInputs, nil
	}
	enc, err := encode(req.Inputs)
	if err != nil {
		return nil, fmt.Errorf("inputs: %w", err)
	}
	return enc, nil
}

// selectFrom computes a selection node's output (index, key or field) from its input.
func selectFrom(nd *ct.Node, in []byte) ([]byte, error) {
	switch nd.Kind {
	case ct.KindIndex:
		return codec.Index(in, nd.Index)
	case ct.KindKey:
		return codec.Key(in, nd.Key)
	default:
		return codec.Field(in, nd.Key)
	}
}

// valuesEncoded tells whether a request asks for values encoded (?values=encoded, as the SDK asks: every Go
// value kept) rather than rendered as JSON (codec.ToJSON: the default, for browsers, the CLI and clients in
// other languages).
func valuesEncoded(r *http.Request) bool { return r.URL.Query().Get("values") == "encoded" }

// showValues makes res's values (the result, the inputs and every node's output) what the client asked for.
func showValues(res *ct.Result, encoded bool) {
	showValue(&res.EncodedResult, (*[]byte)(&res.RawResult), encoded)
	showValue(&res.EncodedInputs, (*[]byte)(&res.RawInputs), encoded)
	for i := range res.Nodes {
		showNode(&res.Nodes[i], encoded)
	}
}

// showGraph makes g's constants what the client asked for, as showValues does for results.
func showGraph(g *ct.Graph, encoded bool) {
	show := func(a *ct.Arg) { showValue(&a.Encoded, (*[]byte)(&a.Value), encoded) }
	for i := range g.Nodes {
		for k := range g.Nodes[i].Args {
			show(&g.Nodes[i].Args[k])
		}
	}
	show(&g.Output)
}

func showNode(n *ct.NodeResult, encoded bool) {
	showValue(&n.EncodedOutput, (*[]byte)(&n.RawOutput), encoded)
}

// showValue takes a stored value from *enc and leaves it there encoded, or in *raw as JSON.
func showValue(enc, raw *[]byte, encoded bool) {
	v, err := encode(*enc)
	if err != nil {
		v = nil // stored JSON that is not JSON: nothing to show
	}
	*enc, *raw = nil, nil
	switch {
	case len(v) == 0:
	case encoded:
		*enc = v
	default:
		*raw, _ = codec.ToJSON(v)
	}
}
