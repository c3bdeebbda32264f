package codec

import (
	"bytes"
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"
	"unsafe"
)

// selfDescribe is tag 55799, which every encoded value starts with. No JSON text starts with
// these bytes, which is how IsEncoded tells encoded values from JSON stored before this codec.
var selfDescribe = []byte{0xd9, 0xd9, 0xf7}

// IsEncoded reports whether b starts like a value written by this package (the self-describe
// tag), as opposed to JSON.
func IsEncoded(b []byte) bool { return bytes.HasPrefix(b, selfDescribe) }

// Marshal encodes v. A registered type (see Register) is written with its name, so that it
// decodes back into an interface-typed destination.
func Marshal(v any) ([]byte, error) {
	e := encState{buf: append(make([]byte, 0, 256), selfDescribe...)}
	if err := e.encodeDynamic(reflect.ValueOf(v)); err != nil {
		return nil, err
	}
	return e.buf, nil
}

type encState struct {
	buf   []byte
	depth int
}

type encoderFunc func(e *encState, v reflect.Value) error

func (e *encState) enter(t reflect.Type) error {
	e.depth++
	if e.depth > MaxDepth {
		return fmt.Errorf("codec: %s nests deeper than %d levels (a pointer cycle?)", t, MaxDepth)
	}
	return nil
}

func (e *encState) leave() { e.depth-- }

// encodeDynamic encodes the value held by an interface: nil, a registered type under its name,
// or any other value as its own type encodes it.
func (e *encState) encodeDynamic(v reflect.Value) error {
	if !v.IsValid() {
		e.buf = append(e.buf, 0xf6)
		return nil
	}
	if name, ok := registeredName(v.Type()); ok {
		e.buf = appendHead(e.buf, majorTag, tagTypeName)
		e.buf = appendHead(e.buf, majorArray, 2)
		e.buf = appendText(e.buf, name)
	}
	return encoderFor(v.Type())(e, v)
}

func appendHead(b []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n <= math.MaxUint8:
		return append(b, m|24, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, m|25), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, m|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, m|27), n)
}

func appendInt(b []byte, i int64) []byte {
	if i < 0 {
		return appendHead(b, majorNeg, uint64(-1-i))
	}
	return appendHead(b, majorUint, uint64(i))
}

func appendFloat64(b []byte, f float64) []byte {
	return binary.BigEndian.AppendUint64(append(b, 0xfb), math.Float64bits(f))
}

func appendFloat32(b []byte, f float32) []byte {
	return binary.BigEndian.AppendUint32(append(b, 0xfa), math.Float32bits(f))
}

func appendText(b []byte, s string) []byte {
	return append(appendHead(b, majorText, uint64(len(s))), s...)
}

func appendBytes(b []byte, p []byte) []byte { return appendBytesAs(b, majorBytes, p) }

// appendBytesAs appends p as a byte string or (major = majorText) a text string.
func appendBytesAs(b []byte, major byte, p []byte) []byte {
	return append(appendHead(b, major, uint64(len(p))), p...)
}

// appendComplex writes c with parts of the given size in bits (32 for complex64).
func appendComplex(b []byte, c complex128, bits int) []byte {
	b = appendHead(b, majorTag, tagComplex)
	b = appendHead(b, majorArray, 2)
	if bits == 32 {
		return appendFloat32(appendFloat32(b, float32(real(c))), float32(imag(c)))
	}
	return appendFloat64(appendFloat64(b, real(c)), imag(c))
}

var (
	timeType            = reflect.TypeFor[time.Time]()
	bigIntType          = reflect.TypeFor[big.Int]()
	bigFloatType        = reflect.TypeFor[big.Float]()
	bigRatType          = reflect.TypeFor[big.Rat]()
	textMarshalerType   = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	binMarshalerType    = reflect.TypeFor[encoding.BinaryMarshaler]()
	binUnmarshalerType  = reflect.TypeFor[encoding.BinaryUnmarshaler]()
)

// bigFloatName is the type name written for *big.Float, which has no standard CBOR form that
// keeps its precision: its content is the big.Float's GobEncode bytes.
const bigFloatName = "math/big.Float"

// isTextType reports a type that round-trips through its MarshalText and UnmarshalText, which
// then define its encoding (as for encoding/json).
func isTextType(t reflect.Type) bool {
	k := t.Kind()
	return k != reflect.Interface && k != reflect.Pointer &&
		(t.Implements(textMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType)) &&
		reflect.PointerTo(t).Implements(textUnmarshalerType)
}

// isBinaryType reports a type that round-trips through its MarshalBinary and UnmarshalBinary, is no text type,
// and is no struct whose fields are all exported (those stay readable, as maps): its bytes then define its
// encoding, as for encoding/gob, since its fields would be lost (gonum's mat.Dense has only unexported ones).
func isBinaryType(t reflect.Type) bool {
	k := t.Kind()
	if k == reflect.Interface || k == reflect.Pointer || isTextType(t) ||
		!(t.Implements(binMarshalerType) || reflect.PointerTo(t).Implements(binMarshalerType)) ||
		!reflect.PointerTo(t).Implements(binUnmarshalerType) {
		return false
	}
	if k != reflect.Struct {
		return true
	}
	for i := range t.NumField() {
		if !t.Field(i).IsExported() {
			return true
		}
	}
	return false
}

var encoderCache sync.Map // reflect.Type -> encoderFunc

func encoderFor(t reflect.Type) encoderFunc {
	return cachedFunc(&encoderCache, t, newEncoder, func(get func() encoderFunc) encoderFunc {
		return func(e *encState, v reflect.Value) error { return get()(e, v) }
	})
}

// cachedFunc returns the function build makes for t, building it once. While it is being built,
// recursive types get an indirect stand-in that waits for the real one.
func cachedFunc[F any](cache *sync.Map, t reflect.Type, build func(reflect.Type) F, indirect func(get func() F) F) F {
	if f, ok := cache.Load(t); ok {
		return f.(F)
	}
	var (
		wg sync.WaitGroup
		f  F
	)
	wg.Add(1)
	stand, loaded := cache.LoadOrStore(t, indirect(func() F { wg.Wait(); return f }))
	if loaded {
		return stand.(F)
	}
	f = build(t)
	wg.Done()
	cache.Store(t, f)
	return f
}

func newEncoder(t reflect.Type) encoderFunc {
	switch t {
	case timeType:
		return encodeTime
	case bigIntType:
		return encodeBigInt
	case bigFloatType:
		return encodeBigFloat
	case bigRatType:
		return encodeBigRat
	}
	if isTextType(t) {
		return encodeTextMarshaler
	}
	if isBinaryType(t) {
		return encodeBinaryMarshaler
	}
	switch t.Kind() {
	case reflect.Bool:
		return func(e *encState, v reflect.Value) error {
			e.buf = append(e.buf, 0xf4+b2u(v.Bool()))
			return nil
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return func(e *encState, v reflect.Value) error {
			e.buf = appendInt(e.buf, v.Int())
			return nil
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return func(e *encState, v reflect.Value) error {
			e.buf = appendHead(e.buf, majorUint, v.Uint())
			return nil
		}
	case reflect.Float32:
		return func(e *encState, v reflect.Value) error {
			e.buf = appendFloat32(e.buf, float32(v.Float()))
			return nil
		}
	case reflect.Float64:
		return func(e *encState, v reflect.Value) error {
			e.buf = appendFloat64(e.buf, v.Float())
			return nil
		}
	case reflect.Complex64, reflect.Complex128:
		bits := t.Bits() / 2
		return func(e *encState, v reflect.Value) error {
			e.buf = appendComplex(e.buf, v.Complex(), bits)
			return nil
		}
	case reflect.String:
		return func(e *encState, v reflect.Value) error {
			e.buf = appendText(e.buf, v.String())
			return nil
		}
	case reflect.Slice:
		return sliceEncoder(t)
	case reflect.Array:
		return arrayEncoder(t)
	case reflect.Map:
		return mapEncoder(t)
	case reflect.Struct:
		return structEncoder(t)
	case reflect.Pointer:
		return pointerEncoder(t)
	case reflect.Interface:
		return func(e *encState, v reflect.Value) error {
			if v.IsNil() {
				e.buf = append(e.buf, 0xf6)
				return nil
			}
			return e.encodeDynamic(v.Elem())
		}
	}
	return func(*encState, reflect.Value) error {
		return fmt.Errorf("codec: cannot encode a value of type %s (a %s)", t, t.Kind())
	}
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func encodeTime(e *encState, v reflect.Value) error {
	t := v.Interface().(time.Time)
	if y := t.Year(); y < 0 || y > 9999 {
		return fmt.Errorf("codec: cannot encode time %s: RFC 3339 holds years 0 to 9999 only", t)
	}
	if _, offset := t.Zone(); offset%60 != 0 {
		t = t.UTC() // RFC 3339 offsets are whole minutes: keep the instant rather than a wrong one
	}
	var text [64]byte
	e.buf = appendHead(e.buf, majorTag, tagTimeText)
	e.buf = appendBytesAs(e.buf, majorText, t.AppendFormat(text[:0], time.RFC3339Nano))
	return nil
}

// addressable returns a pointer to v's value: v's own address when it has one, else a copy's.
func addressable(v reflect.Value) reflect.Value {
	if v.CanAddr() {
		return v.Addr()
	}
	p := reflect.New(v.Type())
	p.Elem().Set(v)
	return p
}

func encodeBigInt(e *encState, v reflect.Value) error {
	e.buf = appendBigInt(e.buf, addressable(v).Interface().(*big.Int))
	return nil
}

// appendBigInt writes x as a plain integer when it fits in 64 bits, else as a bignum.
func appendBigInt(b []byte, x *big.Int) []byte {
	if x.IsInt64() {
		return appendInt(b, x.Int64())
	}
	if x.IsUint64() {
		return appendHead(b, majorUint, x.Uint64())
	}
	if x.Sign() > 0 {
		return appendBytes(appendHead(b, majorTag, tagPosBignum), x.Bytes())
	}
	magnitude := new(big.Int).Neg(x)
	magnitude.Sub(magnitude, big.NewInt(1))
	return appendBytes(appendHead(b, majorTag, tagNegBignum), magnitude.Bytes())
}

// MaxBigFloatBits bounds a big.Float's precision in bits (about 19,700 decimal digits) and the
// magnitude of its binary exponent: rendering one as decimal text takes time quadratic in both,
// so hostile data must not choose them freely.
const MaxBigFloatBits = 1 << 16

// bigFloatTooBig says why x is beyond MaxBigFloatBits, or returns "".
func bigFloatTooBig(x *big.Float) string {
	if x.Prec() > MaxBigFloatBits {
		return "its precision " + strconv.FormatUint(uint64(x.Prec()), 10) + " is beyond " + strconv.Itoa(MaxBigFloatBits) + " bits"
	}
	if exp := x.MantExp(nil); exp > MaxBigFloatBits || exp < -MaxBigFloatBits {
		return "its binary exponent " + strconv.Itoa(exp) + " is beyond ±" + strconv.Itoa(MaxBigFloatBits)
	}
	return ""
}

// encodeBigFloat writes [precision, rounding mode, mantissa, exponent], the value being
// mantissa × 2^exponent with an integer mantissa; zeros and infinities have a float mantissa
// (±0, ±Inf) and exponent 0. (GobEncode bytes would be shorter, but GobDecode trusts its input.)
func encodeBigFloat(e *encState, v reflect.Value) error {
	x := addressable(v).Interface().(*big.Float)
	if why := bigFloatTooBig(x); why != "" {
		return errors.New("codec: cannot encode a big.Float: " + why)
	}
	e.buf = appendHead(e.buf, majorTag, tagTypeName)
	e.buf = appendHead(e.buf, majorArray, 2)
	e.buf = appendText(e.buf, bigFloatName)
	e.buf = appendHead(e.buf, majorArray, 4)
	e.buf = appendHead(e.buf, majorUint, uint64(x.Prec()))
	e.buf = appendHead(e.buf, majorUint, uint64(x.Mode()))
	if x.IsInf() || x.Sign() == 0 {
		f, _ := x.Float64()
		e.buf = appendInt(appendFloat64(e.buf, f), 0)
		return nil
	}
	mant := new(big.Float)
	exp := x.MantExp(mant) // mant in [0.5, 1)
	bits := int(mant.MinPrec())
	mantInt, _ := mant.SetMantExp(mant, bits).Int(nil)
	e.buf = appendInt(appendBigInt(e.buf, mantInt), int64(exp-bits))
	return nil
}

func encodeBigRat(e *encState, v reflect.Value) error {
	r := addressable(v).Interface().(*big.Rat)
	e.buf = appendHead(e.buf, majorTag, tagRational)
	e.buf = appendHead(e.buf, majorArray, 2)
	e.buf = appendBigInt(appendBigInt(e.buf, r.Num()), r.Denom())
	return nil
}

var (
	encodeTextMarshaler   = marshalerEncoder(majorText, "MarshalText", encoding.TextMarshaler.MarshalText)
	encodeBinaryMarshaler = marshalerEncoder(majorBytes, "MarshalBinary", encoding.BinaryMarshaler.MarshalBinary)
)

// marshalerEncoder writes what a value's marshal method (of interface M) gives, as a string of major type major.
func marshalerEncoder[M any](major byte, method string, marshal func(M) ([]byte, error)) encoderFunc {
	return func(e *encState, v reflect.Value) error {
		m, ok := v.Interface().(M)
		if !ok { // the method has a pointer receiver
			m = addressable(v).Interface().(M)
		}
		b, err := marshal(m)
		if err != nil {
			return fmt.Errorf("codec: %s.%s: %w", v.Type(), method, err)
		}
		e.buf = appendBytesAs(e.buf, major, b)
		return nil
	}
}

func pointerEncoder(t reflect.Type) encoderFunc {
	elem := encoderFor(t.Elem())
	return func(e *encState, v reflect.Value) error {
		if v.IsNil() {
			e.buf = append(e.buf, 0xf6)
			return nil
		}
		if err := e.enter(t); err != nil {
			return err
		}
		defer e.leave()
		return elem(e, v.Elem())
	}
}

// sliceEncoder writes nil as null (so that nil and empty stay apart), bytes as a byte string,
// numbers as a typed array and anything else as a list.
func sliceEncoder(t reflect.Type) encoderFunc {
	elem := t.Elem()
	if elem.Kind() == reflect.Uint8 && !isTextType(elem) {
		return func(e *encState, v reflect.Value) error {
			if v.IsNil() {
				e.buf = append(e.buf, 0xf6)
				return nil
			}
			e.buf = appendBytes(e.buf, unsafe.Slice((*byte)(v.UnsafePointer()), v.Len()))
			return nil
		}
	}
	if packed := packedEncoder(elem); packed != nil {
		return func(e *encState, v reflect.Value) error {
			if v.IsNil() {
				e.buf = append(e.buf, 0xf6)
				return nil
			}
			packed(e, v.UnsafePointer(), v.Len())
			return nil
		}
	}
	list := listEncoder(t)
	return func(e *encState, v reflect.Value) error {
		if v.IsNil() {
			e.buf = append(e.buf, 0xf6)
			return nil
		}
		return list(e, v)
	}
}

// packedEncoder returns the typed-array writer for slices of elem, or nil when elem is not a
// plain number. Complex numbers are a complex tag around a float array of interleaved parts.
func packedEncoder(elem reflect.Type) func(e *encState, p unsafe.Pointer, n int) {
	if isTextType(elem) {
		return nil
	}
	size := int(elem.Size())
	if k := elem.Kind(); k == reflect.Complex64 || k == reflect.Complex128 {
		tag := littleEndianTag(classFloat, size/2)
		return func(e *encState, p unsafe.Pointer, n int) {
			e.buf = appendHead(e.buf, majorTag, tagComplex)
			e.buf = appendHead(e.buf, majorTag, tag)
			e.buf = appendHead(e.buf, majorBytes, uint64(n*size))
			e.buf = appendPacked(e.buf, p, 2*n, size/2)
		}
	}
	class, ok := numericClass(elem.Kind())
	if !ok {
		return nil
	}
	tag := littleEndianTag(class, size)
	return func(e *encState, p unsafe.Pointer, n int) {
		e.buf = slices.Grow(e.buf, n*size+12)
		e.buf = appendHead(e.buf, majorTag, tag)
		e.buf = appendHead(e.buf, majorBytes, uint64(n*size))
		e.buf = appendPacked(e.buf, p, n, size)
	}
}

func listEncoder(t reflect.Type) encoderFunc {
	elem := encoderFor(t.Elem())
	return func(e *encState, v reflect.Value) error {
		if err := e.enter(t); err != nil {
			return err
		}
		defer e.leave()
		n := v.Len()
		e.buf = appendHead(e.buf, majorArray, uint64(n))
		for i := range n {
			if err := elem(e, v.Index(i)); err != nil {
				return err
			}
		}
		return nil
	}
}

func arrayEncoder(t reflect.Type) encoderFunc {
	if t.Elem().Kind() == reflect.Uint8 && !isTextType(t.Elem()) {
		return func(e *encState, v reflect.Value) error {
			e.buf = appendHead(e.buf, majorBytes, uint64(v.Len()))
			for i := range v.Len() {
				e.buf = append(e.buf, byte(v.Index(i).Uint()))
			}
			return nil
		}
	}
	return listEncoder(t)
}

// mapEncoder writes pairs sorted by their encoded keys, so that equal maps encode equally. The
// keys are encoded and sorted first, then the values written in that order, so that large values
// are not copied again.
func mapEncoder(t reflect.Type) encoderFunc {
	keyEnc, valueEnc := encoderFor(t.Key()), encoderFor(t.Elem())
	return func(e *encState, v reflect.Value) error {
		if v.IsNil() {
			e.buf = append(e.buf, 0xf6)
			return nil
		}
		if err := e.enter(t); err != nil {
			return err
		}
		defer e.leave()
		type entry struct {
			start, end int // of the encoded key in keys.buf
			key        reflect.Value
		}
		keys := encState{depth: e.depth}
		entries := make([]entry, 0, v.Len())
		for iter := v.MapRange(); iter.Next(); {
			start := len(keys.buf)
			if err := keyEnc(&keys, iter.Key()); err != nil {
				return err
			}
			entries = append(entries, entry{start, len(keys.buf), iter.Key()})
		}
		slices.SortFunc(entries, func(a, b entry) int {
			return bytes.Compare(keys.buf[a.start:a.end], keys.buf[b.start:b.end])
		})
		e.buf = appendHead(e.buf, majorMap, uint64(len(entries)))
		for _, en := range entries {
			e.buf = append(e.buf, keys.buf[en.start:en.end]...)
			if err := valueEnc(e, v.MapIndex(en.key)); err != nil {
				return err
			}
		}
		return nil
	}
}

func structEncoder(t reflect.Type) encoderFunc {
	fields := structFields(t)
	encoders := make([]encoderFunc, len(fields.list))
	for i, f := range fields.list {
		encoders[i] = encoderFor(f.typ)
	}
	return func(e *encState, v reflect.Value) error {
		if err := e.enter(t); err != nil {
			return err
		}
		defer e.leave()
		present := 0
		for i := range fields.list {
			if _, ok := fields.list[i].value(v); ok {
				present++
			}
		}
		e.buf = appendHead(e.buf, majorMap, uint64(present))
		for i := range fields.list {
			f := &fields.list[i]
			fv, ok := f.value(v)
			if !ok {
				continue
			}
			e.buf = append(e.buf, f.encodedName...)
			if err := encoders[i](e, fv); err != nil {
				return err
			}
		}
		return nil
	}
}

// DropsData reports the first type, in v, of a value Marshal does not bring back whole: a struct with an
// unexported field, or a field tagged json:"-", that holds a non-zero value (a locked sync.Mutex, a non-empty
// strings.Builder; an unlocked mutex is its zero value, so it comes back). Types with their own encoding
// (MarshalText, MarshalBinary, time and big numbers) drop nothing.
func DropsData(v reflect.Value) (reflect.Type, bool) {
	if !v.IsValid() || !mayDrop(v.Type(), map[reflect.Type]bool{}) {
		return nil, false
	}
	return dropsData(v, map[uintptr]bool{})
}

// mayDrop tells whether a value of t may hold a field Marshal leaves out; a type that cannot spares the walk
// of its values (a []float64).
func mayDrop(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] || hasOwnEncoding(t) {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Interface:
		return true // what it holds is known only from a value
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return mayDrop(t.Elem(), seen)
	case reflect.Map:
		return mayDrop(t.Key(), seen) || mayDrop(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); leftOut(f) || mayDrop(f.Type, seen) {
				return true
			}
		}
	}
	return false
}

// leftOut tells a struct field Marshal does not write, nor lends the fields of (as structFields has them):
// unexported, unless it is an embedded struct, or tagged json:"-".
func leftOut(f reflect.StructField) bool {
	ft := f.Type
	if ft.Name() == "" && ft.Kind() == reflect.Pointer {
		ft = ft.Elem()
	}
	return f.Tag.Get("json") == "-" || !f.IsExported() && !(f.Anonymous && ft.Kind() == reflect.Struct)
}

func hasOwnEncoding(t reflect.Type) bool {
	switch t {
	case timeType, bigIntType, bigFloatType, bigRatType:
		return true
	}
	return isTextType(t) || isBinaryType(t)
}

func dropsData(v reflect.Value, seen map[uintptr]bool) (reflect.Type, bool) {
	t := v.Type()
	if k := v.Kind(); hasOwnEncoding(t) || (k == reflect.Slice || k == reflect.Array || k == reflect.Map) && !mayDrop(t, map[reflect.Type]bool{}) {
		return nil, false // nor a walk of a large []float64
	}
	switch v.Kind() {
	case reflect.Interface:
		if v.IsNil() {
			return nil, false
		}
		return dropsData(v.Elem(), seen)
	case reflect.Pointer:
		if v.IsNil() || seen[v.Pointer()] {
			return nil, false
		}
		seen[v.Pointer()] = true
		return dropsData(v.Elem(), seen)
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if dt, ok := dropsData(v.Index(i), seen); ok {
				return dt, ok
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if dt, ok := dropsData(it.Key(), seen); ok {
				return dt, ok
			}
			if dt, ok := dropsData(it.Value(), seen); ok {
				return dt, ok
			}
		}
	case reflect.Struct:
		for i := range t.NumField() {
			f, fv := t.Field(i), v.Field(i)
			if leftOut(f) {
				if !fv.IsZero() {
					return t, true
				}
				continue
			}
			if dt, ok := dropsData(fv, seen); ok {
				return dt, ok
			}
		}
	}
	return nil, false
}
