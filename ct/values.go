package ct

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// The functions in this file turn a task's arguments into the values an electron is called with, and what it
// returned into its output. Both tiers use them, so that an electron behaves the same interpreted (package
// interp) and native (ServeNative).

// DecodeArgs decodes a task's arguments into values of the parameter types of ft, the func behind entry.
func DecodeArgs(ft reflect.Type, entry string, args []json.RawMessage) ([]reflect.Value, error) {
	n := ft.NumIn()
	if ft.IsVariadic() && len(args) < n-1 || !ft.IsVariadic() && len(args) != n {
		return nil, fmt.Errorf("%s takes %d arguments, got %d", entry, n, len(args))
	}
	in := make([]reflect.Value, len(args))
	for i, raw := range args {
		t := ft.In(min(i, n-1))
		if ft.IsVariadic() && i >= n-1 {
			t = t.Elem()
		}
		p := reflect.New(t)
		if err := json.Unmarshal(raw, p.Interface()); err != nil {
			return nil, fmt.Errorf("%s argument %d: cannot decode %s into %s: %v", entry, i+1, clip(string(raw), 100), t, err)
		}
		in[i] = p.Elem()
	}
	return in, nil
}

// EncodeOutput encodes what the func behind entry returned (res, of type ft) as the electron's output: its
// single result, or an array of them when there are several. A non-nil trailing error is returned as the
// failure instead.
func EncodeOutput(ft reflect.Type, entry string, res []reflect.Value) (json.RawMessage, error) {
	outs, hasErr := OutputTypes(ft)
	if hasErr {
		if e := res[len(res)-1]; !e.IsNil() {
			return nil, e.Interface().(error)
		}
		res = res[:len(outs)]
	}
	var v any
	switch len(res) {
	case 0:
		return json.RawMessage("null"), nil
	case 1:
		v = res[0].Interface()
	default:
		vals := make([]any, len(res))
		for i, r := range res {
			vals[i] = r.Interface()
		}
		v = vals
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%s returned a value that cannot be encoded as JSON: %v", entry, err)
	}
	return raw, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
