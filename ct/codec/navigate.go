package codec

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// The functions below let a program that does not know the Go types (the dispatcher) take values
// apart and put them together. Their results are encoded values, with the self-describe prefix.

// valueHead reads the head of data's value, seeing through a registered type's name.
func valueHead(r *reader) (head, error) {
	h, err := r.next()
	for err == nil && h.major == majorTag && h.arg == tagTypeName {
		_, h, err = r.readTypeName()
	}
	return h, err
}

func withPrefix(item []byte) []byte {
	return append(append(make([]byte, 0, len(selfDescribe)+len(item)), selfDescribe...), item...)
}

// withoutPrefix strips self-describe tags from an encoded value.
func withoutPrefix(item []byte) []byte {
	for bytes.HasPrefix(item, selfDescribe) {
		item = item[len(selfDescribe):]
	}
	return item
}

// Index returns element i of a list or typed array (an element of a typed array is encoded as
// a number on its own, of a complex array as a complex number, of a byte string as an integer).
func Index(data []byte, i int) ([]byte, error) {
	r := &reader{data: data}
	h, err := valueHead(r)
	if err != nil {
		return nil, err
	}
	outOfRange := func(n int, what string) error {
		return fmt.Errorf("codec: index %d out of range of a %s of %d", i, what, n)
	}
	switch {
	case h.major == majorArray:
		n, err := r.count(h)
		if err != nil {
			return nil, err
		}
		if i < 0 || i >= n {
			return nil, outOfRange(n, "list")
		}
		for range i {
			if _, err := r.rawItem(); err != nil {
				return nil, err
			}
		}
		item, err := r.rawItem()
		if err != nil {
			return nil, err
		}
		return withPrefix(withoutPrefix(item)), nil
	case h.major == majorBytes:
		b, err := r.take(h.arg)
		if err != nil {
			return nil, err
		}
		if i < 0 || i >= len(b) {
			return nil, outOfRange(len(b), "byte string")
		}
		return appendHead(withPrefix(nil), majorUint, uint64(b[i])), nil
	case h.major == majorTag:
		p, ok, err := r.readPackedFor(h)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if i < 0 || i >= p.len() {
			return nil, outOfRange(p.len(), "typed array")
		}
		out := withPrefix(nil)
		if p.complex {
			re, im := p.ta.element(p.raw, 2*i).f, p.ta.element(p.raw, 2*i+1).f
			return appendComplex(out, complex(re, im), p.ta.floatBits()), nil
		}
		switch e := p.ta.element(p.raw, i); {
		case e.class == classFloat && p.ta.size == 8:
			return appendFloat64(out, e.f), nil
		case e.class == classFloat:
			return appendFloat32(out, float32(e.f)), nil
		case e.class == classSint:
			return appendInt(out, e.i), nil
		default:
			return appendHead(out, majorUint, e.u), nil
		}
	}
	return nil, fmt.Errorf("codec: cannot index %s", describe(h))
}

// Key returns the value of a map's key. A key that is not text matches its text rendering
// (see ToJSON): "3" finds the int key 3.
func Key(data []byte, key string) ([]byte, error) {
	return lookup(data, key, "key", true)
}

// Field returns a struct field by its encoded name (a struct is a map with text keys).
func Field(data []byte, name string) ([]byte, error) {
	return lookup(data, name, "field", false)
}

func lookup(data []byte, want, what string, anyKey bool) ([]byte, error) {
	r := &reader{data: data}
	h, err := valueHead(r)
	if err != nil {
		return nil, err
	}
	if h.major != majorMap {
		return nil, fmt.Errorf("codec: cannot look up the %s %q in %s", what, want, describe(h))
	}
	n, err := r.count(h)
	if err != nil {
		return nil, err
	}
	var keys []string
	for range n {
		kh, err := r.next()
		if err != nil {
			return nil, err
		}
		var key string
		switch {
		case kh.major == majorText:
			b, err := r.take(kh.arg)
			if err != nil {
				return nil, err
			}
			key = string(b)
		case anyKey:
			start := r.pos - headSize(kh)
			if err := r.skipContent(kh); err != nil {
				return nil, err
			}
			key = keyText(r.data[start:r.pos])
		default:
			if err := r.skipContent(kh); err != nil {
				return nil, err
			}
		}
		value, err := r.rawItem()
		if err != nil {
			return nil, err
		}
		if key == want && (kh.major == majorText || anyKey) {
			return withPrefix(withoutPrefix(value)), nil
		}
		if kh.major == majorText || anyKey {
			keys = append(keys, key)
		}
	}
	return nil, fmt.Errorf("codec: no %s %q in a map of %d %ss (%ss: %s)", what, want, n, what, what, quoteList(keys, 20))
}

// headSize is the number of bytes h took in the input.
func headSize(h head) int {
	if h.info < 24 {
		return 1
	}
	return 1 + 1<<(h.info-24)
}

// List encodes a list of already-encoded items.
func List(items [][]byte) []byte {
	size := len(selfDescribe) + 9
	for _, item := range items {
		size += len(item)
	}
	b := appendHead(append(make([]byte, 0, size), selfDescribe...), majorArray, uint64(len(items)))
	for _, item := range items {
		b = append(b, withoutPrefix(item)...)
	}
	return b
}

// Dict encodes a map of text keys to already-encoded items, in the order given.
func Dict(keys []string, items [][]byte) ([]byte, error) {
	if len(keys) != len(items) {
		return nil, errors.New("codec: Dict needs as many items as keys, not " + strconv.Itoa(len(items)) + " for " + strconv.Itoa(len(keys)))
	}
	seen := make(map[string]bool, len(keys))
	b := appendHead(withPrefix(nil), majorMap, uint64(len(keys)))
	for i, key := range keys {
		if seen[key] {
			return nil, fmt.Errorf("codec: Dict: duplicate key %q", key)
		}
		seen[key] = true
		b = append(appendText(b, key), withoutPrefix(items[i])...)
	}
	return b, nil
}
