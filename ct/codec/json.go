package codec

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"
)

// ToJSON renders encoded data as JSON, by the rules in the package documentation.
func ToJSON(data []byte) ([]byte, error) {
	r := &reader{data: data}
	w := jsonWriter{r: r, buf: make([]byte, 0, 2*len(data)+16)}
	h, err := r.next()
	if err != nil {
		return nil, err
	}
	if err := w.value(h); err != nil {
		return nil, err
	}
	if err := r.finish(); err != nil {
		return nil, err
	}
	return w.buf, nil
}

type jsonWriter struct {
	r   *reader
	buf []byte
}

// value renders the value whose head was just read.
func (w *jsonWriter) value(h head) error {
	r := w.r
	switch h.major {
	case majorUint:
		w.buf = strconv.AppendUint(w.buf, h.arg, 10)
	case majorNeg:
		if h.arg < math.MaxUint64 {
			w.buf = strconv.AppendUint(append(w.buf, '-'), h.arg+1, 10)
		} else {
			w.buf = append(w.buf, "-18446744073709551616"...)
		}
	case majorBytes:
		b, err := r.take(h.arg)
		if err != nil {
			return err
		}
		w.buf = append(base64.StdEncoding.AppendEncode(append(w.buf, '"'), b), '"')
	case majorText:
		s, err := r.take(h.arg)
		if err != nil {
			return err
		}
		w.buf = appendJSONString(w.buf, unsafe.String(unsafe.SliceData(s), len(s)))
	case majorArray, majorMap:
		return w.container(h)
	case majorTag:
		if err := r.enter(); err != nil {
			return err
		}
		defer r.leave()
		return w.tag(h)
	default:
		switch h.info {
		case simpleFalse:
			w.buf = append(w.buf, "false"...)
		case simpleTrue:
			w.buf = append(w.buf, "true"...)
		case simpleNull, simpleUndefined:
			w.buf = append(w.buf, "null"...)
		case infoFloat16, infoFloat32, infoFloat64:
			n, _, _ := r.readNumber(h)
			w.buf = appendJSONFloat(w.buf, n.f, 32+32*b2i(h.info == infoFloat64))
		default:
			return r.errorf("cannot decode %s", describe(h))
		}
	}
	return nil
}

func (w *jsonWriter) container(h head) error {
	r := w.r
	n, err := r.count(h)
	if err != nil {
		return err
	}
	if err := r.enter(); err != nil {
		return err
	}
	defer r.leave()
	open, close := byte('['), byte(']')
	if h.major == majorMap {
		open, close = '{', '}'
	}
	w.buf = append(w.buf, open)
	for i := range n {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		if h.major == majorMap {
			key, err := r.rawItem()
			if err != nil {
				return err
			}
			w.buf = append(appendJSONString(w.buf, keyText(key)), ':')
		}
		eh, err := r.next()
		if err != nil {
			return err
		}
		if err := w.value(eh); err != nil {
			return err
		}
	}
	w.buf = append(w.buf, close)
	return nil
}

func (w *jsonWriter) tag(h head) error {
	r := w.r
	switch h.arg {
	case tagTimeText, tagTimeEpoch:
		t, err := r.decodeAs(timeType, h)
		if err != nil {
			return err
		}
		w.buf = appendJSONString(w.buf, t.(time.Time).Format(time.RFC3339Nano))
		return nil
	case tagPosBignum, tagNegBignum:
		x, err := r.readBigInt(h)
		if err != nil {
			return err
		}
		if x.BitLen() <= 53 {
			w.buf = x.Append(w.buf, 10)
		} else {
			w.buf = append(x.Append(append(w.buf, '"'), 10), '"')
		}
		return nil
	case tagRational:
		x, err := r.decodeAs(reflect.TypeFor[*big.Rat](), h)
		if err != nil {
			return err
		}
		if f, exact := x.(*big.Rat).Float64(); exact {
			w.buf = appendJSONFloat(w.buf, f, 64)
		} else {
			w.buf = appendJSONString(w.buf, x.(*big.Rat).RatString())
		}
		return nil
	case tagTypeName:
		name, vh, err := r.readTypeName()
		if err != nil {
			return err
		}
		if name != bigFloatName {
			return w.value(vh) // the type's name is for Go programs
		}
		x, err := r.decodeAs(reflect.TypeFor[*big.Float](), vh)
		if err != nil {
			return err
		}
		w.buf = appendBigFloat(w.buf, x.(*big.Float))
		return nil
	case tagComplex:
		save := r.pos
		ch, err := r.next()
		if err != nil {
			return err
		}
		if ch.major == majorArray && ch.arg == 2 {
			return w.complexParts()
		}
		r.pos = save
		p, ok, err := r.readPackedFor(h)
		if err != nil || !ok {
			return err
		}
		w.buf = append(w.buf, '[')
		for i := range p.len() {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			w.buf = append(appendJSONFloat(append(w.buf, `{"real":`...), p.ta.element(p.raw, 2*i).f, p.ta.floatBits()), `,"imag":`...)
			w.buf = append(appendJSONFloat(w.buf, p.ta.element(p.raw, 2*i+1).f, p.ta.floatBits()), '}')
		}
		w.buf = append(w.buf, ']')
		return nil
	}
	if _, ok := typedArrays[h.arg]; ok {
		p, _, err := r.readPackedFor(h)
		if err != nil {
			return err
		}
		w.buf = appendJSONArray(w.buf, p)
		return nil
	}
	ch, err := r.next() // content whose tag JSON has no use for
	if err != nil {
		return err
	}
	return w.value(ch)
}

// complexParts renders the two parts of a complex number as {"real":r,"imag":i}.
func (w *jsonWriter) complexParts() error {
	for _, label := range []string{`{"real":`, `,"imag":`} {
		w.buf = append(w.buf, label...)
		h, err := w.r.next()
		if err != nil {
			return err
		}
		if !h.isFloat() && h.major != majorUint && h.major != majorNeg {
			return w.r.errorf("a complex number's part is %s, not a number", describe(h))
		}
		if err := w.value(h); err != nil {
			return err
		}
	}
	w.buf = append(w.buf, '}')
	return nil
}

func appendBigFloat(b []byte, x *big.Float) []byte {
	if x.IsInf() {
		if x.Sign() > 0 {
			return append(b, `"+Inf"`...)
		}
		return append(b, `"-Inf"`...)
	}
	if f, acc := x.Float64(); acc == big.Exact {
		return appendJSONFloat(b, f, 64)
	}
	return append(x.Append(append(b, '"'), 'g', -1), '"')
}

// parallelJSONElements is the typed-array length from which ToJSON renders the elements on
// several cores: formatting floats takes about 75 ns each, 0.4 s for 5 million.
const parallelJSONElements = 1 << 16

// appendJSONArray renders a typed array's elements.
func appendJSONArray(b []byte, p packed) []byte {
	n := p.len()
	b = append(b, '[')
	workers := min(runtime.GOMAXPROCS(0), n/parallelJSONElements)
	if workers < 2 {
		return append(appendJSONElements(b, p, 0, n), ']')
	}
	parts := make([][]byte, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := n*w/workers, n*(w+1)/workers
		wg.Go(func() { parts[w] = appendJSONElements(make([]byte, 0, (hi-lo)*24), p, lo, hi) })
	}
	wg.Wait()
	for _, part := range parts {
		b = append(b, part...)
	}
	return append(b, ']')
}

// appendJSONElements renders elements lo to hi-1 of a typed array, each after a comma but the first.
func appendJSONElements(b []byte, p packed, lo, hi int) []byte {
	for i := lo; i < hi; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		switch {
		case p.ta.class == classFloat && p.ta.size == 8 && !p.ta.bigEndian:
			b = appendJSONFloat(b, math.Float64frombits(binary.LittleEndian.Uint64(p.raw[8*i:])), 64)
		case p.ta.class == classFloat:
			b = appendJSONFloat(b, p.ta.element(p.raw, i).f, p.ta.floatBits())
		default:
			if e := p.ta.element(p.raw, i); e.class == classSint {
				b = strconv.AppendInt(b, e.i, 10)
			} else {
				b = strconv.AppendUint(b, e.u, 10)
			}
		}
	}
	return b
}

// appendJSONFloat writes f as encoding/json does, and NaN and the infinities as strings.
func appendJSONFloat(b []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"+Inf"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Inf"`...)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' { // e-09 to e-9, as encoding/json
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendJSONString writes s as a JSON string; invalid UTF-8 becomes U+FFFD, as in encoding/json.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			if r == utf8.RuneError {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(append(b, s[start:]...), '"')
}

// keyText is the text a map key is known by in JSON and to Key: a text key itself, else the
// key's JSON rendering, unquoted when that is a string (so int key 3 is "3", a time key its
// RFC 3339 text, a list key [1,2] the text "[1,2]").
func keyText(raw []byte) string {
	r := &reader{data: raw}
	h, err := r.next()
	if err != nil {
		return ""
	}
	if h.major == majorText {
		s, _ := r.take(h.arg)
		return string(s)
	}
	w := jsonWriter{r: r}
	if err := w.value(h); err != nil {
		return string(w.buf)
	}
	if len(w.buf) > 0 && w.buf[0] == '"' {
		var s string
		if json.Unmarshal(w.buf, &s) == nil {
			return s
		}
	}
	return string(w.buf)
}

// FromJSON encodes one JSON value: integral numbers (no fraction or exponent) as integers, of
// any size, other numbers as float64, objects as maps with text keys.
func FromJSON(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, fmt.Errorf("codec: FromJSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("codec: FromJSON: more data after the JSON value")
	}
	x, err := convertJSONNumbers(x)
	if err != nil {
		return nil, err
	}
	return Marshal(x)
}

// maxJSONDigits bounds a JSON number's length: converting a huge integer to a big.Int takes time that grows with
// the square of its length, and JSON comes from clients.
const maxJSONDigits = 10000

// convertJSONNumbers replaces the json.Numbers in a decoded JSON value by Go numbers.
func convertJSONNumbers(x any) (any, error) {
	var err error
	switch x := x.(type) {
	case json.Number:
		return jsonNumber(string(x))
	case []any:
		for i := range x {
			if x[i], err = convertJSONNumbers(x[i]); err != nil {
				return nil, err
			}
		}
	case map[string]any:
		for k, v := range x {
			if x[k], err = convertJSONNumbers(v); err != nil {
				return nil, err
			}
		}
	}
	return x, nil
}

func jsonNumber(s string) (any, error) {
	if len(s) > maxJSONDigits {
		return nil, fmt.Errorf("codec: FromJSON: a number of %d digits (at most %d)", len(s), maxJSONDigits)
	}
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return u, nil
		}
		if x, ok := new(big.Int).SetString(s, 10); ok {
			return x, nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return nil, fmt.Errorf("codec: FromJSON: number %s: %w", s, err)
	}
	return f, nil
}
