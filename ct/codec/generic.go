package codec

import (
	"math/big"
	"reflect"
	"time"
)

// Tag is a tagged value whose tag Decode does not know.
type Tag struct {
	Number  uint64
	Content any
}

// Decode decodes data without a Go type, into plain values for display and inspection:
//
//   - integers as int when they fit, else uint64 or *big.Int; floats as float64
//   - text as string, byte strings as []byte, lists as []any
//   - maps as map[string]any when every key is text, else map[any]any, where a key that is not
//     a scalar (a list, a map, a big number) is replaced by its text rendering (see ToJSON)
//   - times as time.Time, bignums as *big.Int, rationals as *big.Rat, big floats as *big.Float
//   - complex numbers as complex128, complex arrays as []complex128 or []complex64
//   - typed arrays as the Go slice of their element type ([]float64, []int32, ...; float16 as
//     []float32)
//   - values of registered types as those types; unknown tags as Tag
func Decode(data []byte) (any, error) {
	r := &reader{data: data}
	h, err := r.next()
	if err != nil {
		return nil, err
	}
	x, err := r.decodeAny(h)
	if err != nil {
		return nil, err
	}
	return x, r.finish()
}

// Check reports whether data holds exactly one well-formed value (its structure: heads, lengths, nesting), without
// decoding it: for checking what a client sends before it is stored or passed on.
func Check(data []byte) error {
	r := &reader{data: data}
	if _, err := r.rawItem(); err != nil {
		return err
	}
	return r.finish()
}

// decodeAny decodes the value whose head was just read into a plain Go value.
func (r *reader) decodeAny(h head) (any, error) {
	switch h.major {
	case majorUint, majorNeg:
		n, _, err := r.readNumber(h)
		return n.generic(), err
	case majorBytes:
		b, err := r.take(h.arg)
		return append([]byte{}, b...), err
	case majorText:
		b, err := r.take(h.arg)
		return string(b), err
	case majorArray:
		n, err := r.count(h)
		if err != nil {
			return nil, err
		}
		list := make([]any, n)
		return list, r.decodeList(reflect.ValueOf(list), n, decodeInterface)
	case majorMap:
		return r.decodeAnyMap(h)
	case majorTag:
		if err := r.enter(); err != nil {
			return nil, err
		}
		defer r.leave()
		return r.decodeAnyTag(h)
	}
	switch h.info {
	case simpleFalse, simpleTrue:
		return h.info == simpleTrue, nil
	case simpleNull, simpleUndefined:
		return nil, nil
	case infoFloat16, infoFloat32, infoFloat64:
		n, _, err := r.readNumber(h)
		return n.f, err
	}
	return nil, r.errorf("cannot decode %s", describe(h))
}

func (r *reader) decodeAnyMap(h head) (any, error) {
	n, err := r.count(h)
	if err != nil {
		return nil, err
	}
	if err := r.enter(); err != nil {
		return nil, err
	}
	defer r.leave()
	keys, values := make([]any, n), make([]any, n)
	rawKeys := make([][]byte, n)
	allText := true
	for i := range n {
		start := r.pos
		kh, err := r.next()
		if err != nil {
			return nil, err
		}
		if keys[i], err = r.decodeAny(kh); err != nil {
			return nil, withPath(err, "[key]")
		}
		rawKeys[i] = r.data[start:r.pos]
		_, isText := keys[i].(string)
		allText = allText && isText
		vh, err := r.next()
		if err != nil {
			return nil, err
		}
		if values[i], err = r.decodeAny(vh); err != nil {
			return nil, withPath(err, "["+keyText(rawKeys[i])+"]")
		}
	}
	if allText {
		m := make(map[string]any, n)
		for i, k := range keys {
			m[k.(string)] = values[i]
		}
		return m, nil
	}
	m := make(map[any]any, n)
	for i, k := range keys {
		switch k.(type) {
		case nil, bool, int, int64, uint64, float64, complex128, string, time.Time:
		default: // not comparable, or compared by pointer
			k = keyText(rawKeys[i])
		}
		m[k] = values[i]
	}
	return m, nil
}

func (r *reader) decodeAnyTag(h head) (any, error) {
	switch h.arg {
	case tagTimeText, tagTimeEpoch:
		return r.decodeAs(timeType, h)
	case tagPosBignum, tagNegBignum:
		return r.readBigInt(h)
	case tagRational:
		return r.decodeAs(reflect.TypeFor[*big.Rat](), h)
	case tagTypeName:
		v := reflect.New(reflect.TypeFor[any]()).Elem()
		if err := decodeInterface(r, h, v); err != nil {
			return nil, err
		}
		return v.Interface(), nil
	case tagComplex:
		// A complex number holds a list of two parts, a complex array a typed array.
		save := r.pos
		ch, err := r.next()
		if err != nil {
			return nil, err
		}
		if ch.major == majorArray {
			r.pos = save
			return r.readComplex(reflect.TypeFor[complex128]())
		}
		if ta, ok := typedArrays[ch.arg]; ok && ch.major == majorTag && ta.class == classFloat && ta.size == 4 {
			r.pos = save
			return r.decodeAs(reflect.TypeFor[[]complex64](), h)
		}
		r.pos = save
		return r.decodeAs(reflect.TypeFor[[]complex128](), h)
	}
	if ta, ok := typedArrays[h.arg]; ok {
		return r.decodeAs(reflect.SliceOf(ta.goType()), h)
	}
	ch, err := r.next()
	if err != nil {
		return nil, err
	}
	content, err := r.decodeAny(ch)
	if err != nil {
		return nil, err
	}
	if h.arg == tagSelfDescribe {
		return content, nil
	}
	return Tag{Number: h.arg, Content: content}, nil
}
