package codec

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// CBOR major types (RFC 8949 section 3.1).
const (
	majorUint byte = iota
	majorNeg
	majorBytes
	majorText
	majorArray
	majorMap
	majorTag
	majorSimple
)

// Additional-information values of major type 7.
const (
	simpleFalse     = 20
	simpleTrue      = 21
	simpleNull      = 22
	simpleUndefined = 23
	infoFloat16     = 25
	infoFloat32     = 26
	infoFloat64     = 27
)

// MaxDepth bounds how deeply arrays, maps and tags may nest. Decoding enforces it so that hostile
// input cannot exhaust the stack; encoding enforces it so that a pointer cycle fails instead of
// recursing forever.
const MaxDepth = 1000

// DecodeError reports data that is malformed or does not fit the Go type it is decoded into.
// Path locates the offending value inside the decoded one (for example .Items[3]["key"]).
type DecodeError struct {
	Path string
	Msg  string
}

func (e *DecodeError) Error() string {
	if e.Path == "" {
		return "codec: " + e.Msg
	}
	return "codec: " + e.Msg + " (at " + e.Path + ")"
}

// withPath prefixes the location of a nested value to a decoding error on its way up.
func withPath(err error, segment string) error {
	if de, ok := err.(*DecodeError); ok {
		de.Path = segment + de.Path
	}
	return err
}

func indexSegment(i int) string { return "[" + strconv.Itoa(i) + "]" }

// head is the initial byte of a data item and its argument: an integer's value, a string's
// length, a count of items or pairs, a tag number, a simple value or a float's bits.
type head struct {
	major byte
	info  byte
	arg   uint64
}

func (h head) isNull() bool {
	return h.major == majorSimple && (h.info == simpleNull || h.info == simpleUndefined)
}

func (h head) isFloat() bool {
	return h.major == majorSimple && h.info >= infoFloat16 && h.info <= infoFloat64
}

// reader walks CBOR data. Every length it reads is checked against the bytes that remain, so a
// claimed size never allocates more than the input could hold.
type reader struct {
	data  []byte
	pos   int
	depth int
}

func (r *reader) errorf(format string, args ...any) error {
	return &DecodeError{Msg: fmt.Sprintf(format, args...) + " at byte " + strconv.Itoa(r.pos)}
}

func (r *reader) remaining() int { return len(r.data) - r.pos }

func (r *reader) readHead() (head, error) {
	if r.pos >= len(r.data) {
		return head{}, r.errorf("data ends where a value should start")
	}
	b := r.data[r.pos]
	r.pos++
	h := head{major: b >> 5, info: b & 0x1f}
	switch {
	case h.info < 24:
		h.arg = uint64(h.info)
	case h.info <= 27:
		n := 1 << (h.info - 24)
		if r.remaining() < n {
			return head{}, r.errorf("data ends inside an item head")
		}
		p := r.data[r.pos : r.pos+n]
		switch n {
		case 1:
			h.arg = uint64(p[0])
		case 2:
			h.arg = uint64(binary.BigEndian.Uint16(p))
		case 4:
			h.arg = uint64(binary.BigEndian.Uint32(p))
		default:
			h.arg = binary.BigEndian.Uint64(p)
		}
		r.pos += n
	case h.info == 31 && h.major == majorSimple:
		return head{}, r.errorf("unexpected break code")
	case h.info == 31:
		return head{}, r.errorf("indefinite-length %s are not supported", majorNames[h.major])
	default:
		return head{}, r.errorf("malformed item head (reserved additional information %d)", h.info)
	}
	return h, nil
}

// next reads the head of the next value, skipping self-describe tags.
func (r *reader) next() (head, error) {
	for {
		h, err := r.readHead()
		if err != nil || h.major != majorTag || h.arg != tagSelfDescribe {
			return h, err
		}
	}
}

// take returns the content of a byte or text string whose head was just read.
func (r *reader) take(n uint64) ([]byte, error) {
	if n > uint64(r.remaining()) {
		return nil, r.errorf("a string claims %d bytes but only %d remain", n, r.remaining())
	}
	b := r.data[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return b, nil
}

// count checks an array's or map's claimed size against the remaining input (every item takes
// at least one byte) and returns it as an int.
func (r *reader) count(h head) (int, error) {
	limit := uint64(r.remaining())
	if h.major == majorMap {
		limit /= 2
	}
	if h.arg > limit {
		return 0, r.errorf("%s claims %d items but only %d bytes remain", majorNames[h.major], h.arg, r.remaining())
	}
	return int(h.arg), nil
}

func (r *reader) enter() error {
	r.depth++
	if r.depth > MaxDepth {
		return r.errorf("values nest deeper than %d levels", MaxDepth)
	}
	return nil
}

func (r *reader) leave() { r.depth-- }

// skipContent skips what follows a head already read: a string's bytes, an array's items, a
// map's pairs or a tag's content. It loops instead of recursing, so depth does not matter.
func (r *reader) skipContent(h head) error {
	for pending := uint64(0); ; pending-- {
		switch h.major {
		case majorBytes, majorText:
			if _, err := r.take(h.arg); err != nil {
				return err
			}
		case majorArray, majorMap:
			n, err := r.count(h)
			if err != nil {
				return err
			}
			pending += uint64(n)
			if h.major == majorMap {
				pending += uint64(n)
			}
		case majorTag:
			pending++
		}
		if pending == 0 {
			return nil
		}
		var err error
		if h, err = r.readHead(); err != nil {
			return err
		}
	}
}

// rawItem returns the bytes of the next whole item.
func (r *reader) rawItem() ([]byte, error) {
	start := r.pos
	h, err := r.readHead()
	if err != nil {
		return nil, err
	}
	if err := r.skipContent(h); err != nil {
		return nil, err
	}
	return r.data[start:r.pos], nil
}

// finish reports bytes left after the one value the data should hold.
func (r *reader) finish() error {
	if r.pos != len(r.data) {
		return r.errorf("%d unexpected bytes after the value", len(r.data)-r.pos)
	}
	return nil
}

var majorNames = [8]string{"unsigned integer", "negative integer", "byte string", "text string", "list", "map", "tag", "simple value"}

// describe names a data item in error messages, from its head.
func describe(h head) string {
	switch h.major {
	case majorUint:
		return "the integer " + strconv.FormatUint(h.arg, 10)
	case majorNeg:
		if h.arg < 1<<63 {
			return "the integer " + strconv.FormatInt(-1-int64(h.arg), 10)
		}
		return "a negative integer"
	case majorBytes:
		return "a byte string of " + strconv.FormatUint(h.arg, 10) + " bytes"
	case majorText:
		return "a text string"
	case majorArray:
		return "a list of " + strconv.FormatUint(h.arg, 10)
	case majorMap:
		return "a map of " + strconv.FormatUint(h.arg, 10) + " keys"
	case majorTag:
		if name, ok := tagNames[h.arg]; ok {
			return name
		}
		if ta, ok := typedArrays[h.arg]; ok {
			return "a typed array of " + ta.goName()
		}
		return "tag " + strconv.FormatUint(h.arg, 10)
	}
	switch h.info {
	case simpleFalse, simpleTrue:
		return "a boolean"
	case simpleNull:
		return "null"
	case simpleUndefined:
		return "undefined"
	case infoFloat16, infoFloat32, infoFloat64:
		return "a float"
	}
	return "the simple value " + strconv.FormatUint(h.arg, 10)
}

func quoteList(names []string, limit int) string {
	quoted := make([]string, 0, min(len(names), limit)+1)
	for i, n := range names {
		if i == limit {
			quoted = append(quoted, "...")
			break
		}
		quoted = append(quoted, strconv.Quote(n))
	}
	return strings.Join(quoted, ", ")
}
