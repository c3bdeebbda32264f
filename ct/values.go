package ct

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/govalent/govalent/ct/codec"
)

// The functions in this file turn a task's arguments into the values an electron is called with, and what it
// returned into its output. Both tiers use them, so that an electron behaves the same interpreted (package
// interp) and native (ServeNative). Values are encoded with package ct/codec, which keeps what JSON cannot
// (NaN and ±Inf, complex numbers, nil versus empty, maps with any keys, big numbers, times to the nanosecond).

// DecodeArgs decodes a task's arguments into values of the parameter types of ft, the func behind entry.
// JSON is accepted too: what a dispatcher stored before values were encoded.
func DecodeArgs(ft reflect.Type, entry string, args [][]byte) ([]reflect.Value, error) {
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
		if err := unmarshalValue(raw, p.Interface()); err != nil {
			return nil, fmt.Errorf("%s argument %d: cannot decode it into %s: %v", entry, i+1, t, err)
		}
		in[i] = p.Elem()
	}
	return in, nil
}

// EncodeOutput encodes what the func behind entry returned (res, of type ft) as the electron's output: its
// single result, or a list of them when there are several. A non-nil trailing error is returned as the
// failure instead.
func EncodeOutput(ft reflect.Type, entry string, res []reflect.Value) ([]byte, error) {
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
	case 1:
		v = res[0].Interface()
	default:
		vals := make([]any, len(res))
		for i, r := range res {
			vals[i] = r.Interface()
		}
		v = vals
	}
	out, err := codec.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%s returned a value that cannot be encoded: %v", entry, err)
	}
	return out, nil
}

// unmarshalValue decodes an encoded value, or JSON, into p.
func unmarshalValue(raw []byte, p any) error {
	if len(raw) == 0 {
		return fmt.Errorf("no value")
	}
	if codec.IsEncoded(raw) {
		return codec.Unmarshal(raw, p)
	}
	return json.Unmarshal(raw, p)
}

// Register lets values of v's type cross processes inside interfaces: an electron parameter or a field of an
// interface type (other than any) decodes only into registered types. Call it in the program that makes the
// electrons, at init (var _ = ct.Register(Circle{})); a compiled program's workers run the same init.
func Register(v any) bool {
	codec.Register(v)
	return true
}
