package codec

import (
	"bytes"
	"encoding"
	"encoding/base64"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Unmarshal decodes data, with or without the self-describe prefix, into the value ptr points
// to. Lists and maps are always decoded into new slices and maps; null leaves the zero value.
func Unmarshal(data []byte, ptr any) error {
	rv := reflect.ValueOf(ptr)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("codec: Unmarshal needs a non-nil pointer, not %T", ptr)
	}
	r := &reader{data: data}
	if err := r.decodeInto(rv.Elem(), decoderFor(rv.Type().Elem())); err != nil {
		return err
	}
	return r.finish()
}

// decoderFunc decodes the value whose head h was just read into v, which is settable.
type decoderFunc func(r *reader, h head, v reflect.Value) error

func (r *reader) decodeInto(v reflect.Value, dec decoderFunc) error {
	h, err := r.next()
	if err != nil {
		return err
	}
	return dec(r, h, v)
}

// decodeAs decodes the value whose head was just read as a new value of type t.
func (r *reader) decodeAs(t reflect.Type, h head) (any, error) {
	v := reflect.New(t).Elem()
	if err := decoderFor(t)(r, h, v); err != nil {
		return nil, err
	}
	return v.Interface(), nil
}

func mismatch(h head, t reflect.Type) error {
	return &DecodeError{Msg: "cannot decode " + describe(h) + " into " + t.String()}
}

var decoderCache sync.Map // reflect.Type -> decoderFunc

func decoderFor(t reflect.Type) decoderFunc {
	return cachedFunc(&decoderCache, t, newDecoder, func(get func() decoderFunc) decoderFunc {
		return func(r *reader, h head, v reflect.Value) error { return get()(r, h, v) }
	})
}

// newDecoder makes t's decoder. Only interfaces need a registered type's name, and pointers pass
// the value on; every other destination sees through the name.
func newDecoder(t reflect.Type) decoderFunc {
	dec := newValueDecoder(t)
	if k := t.Kind(); k == reflect.Pointer || k == reflect.Interface {
		return dec
	}
	return func(r *reader, h head, v reflect.Value) error {
		for h.major == majorTag && h.arg == tagTypeName {
			var err error
			if _, h, err = r.readTypeName(); err != nil {
				return err
			}
		}
		return dec(r, h, v)
	}
}

// readTypeName reads the content of a type-name tag, [name, value], up to the value's head.
func (r *reader) readTypeName() (string, head, error) {
	h, err := r.next()
	if err != nil {
		return "", h, err
	}
	if h.major != majorArray || h.arg != 2 {
		return "", h, r.errorf("a typed value must be a list of a type name and a value, not %s", describe(h))
	}
	if h, err = r.next(); err != nil {
		return "", h, err
	}
	if h.major != majorText {
		return "", h, r.errorf("a type name must be a text string, not %s", describe(h))
	}
	name, err := r.take(h.arg)
	if err != nil {
		return "", h, err
	}
	h, err = r.next()
	return string(name), h, err
}

func newValueDecoder(t reflect.Type) decoderFunc {
	switch t {
	case timeType:
		return decodeTime
	case bigIntType:
		return decodeBigInt
	case bigFloatType:
		return decodeBigFloat
	case bigRatType:
		return decodeBigRat
	}
	if isTextType(t) {
		return decodeTextUnmarshaler
	}
	if isBinaryType(t) {
		return decodeBinaryUnmarshaler
	}
	switch t.Kind() {
	case reflect.Bool:
		return decodeBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return decodeNumber
	case reflect.Complex64, reflect.Complex128:
		return decodeComplex
	case reflect.String:
		return decodeString
	case reflect.Slice:
		return sliceDecoder(t)
	case reflect.Array:
		return arrayDecoder(t)
	case reflect.Map:
		return mapDecoder(t)
	case reflect.Struct:
		return structDecoder(t)
	case reflect.Pointer:
		return pointerDecoder(t)
	case reflect.Interface:
		return decodeInterface
	}
	return func(_ *reader, h head, v reflect.Value) error {
		return &DecodeError{Msg: "cannot decode into " + t.String() + " (a " + t.Kind().String() + ")"}
	}
}

// number is a decoded numeric scalar or typed array element.
type number struct {
	class numClass
	u     uint64 // classUint
	i     int64  // classSint
	f     float64
	big   *big.Int // classBig
}

func intNumber(i int64) number     { return number{class: classSint, i: i} }
func floatNumber(f float64) number { return number{class: classFloat, f: f} }

func bigNumber(x *big.Int) number {
	switch {
	case x.IsInt64():
		return intNumber(x.Int64())
	case x.IsUint64():
		return number{class: classUint, u: x.Uint64()}
	}
	return number{class: classBig, big: x}
}

func (n number) float() float64 {
	switch n.class {
	case classUint:
		return float64(n.u)
	case classSint:
		return float64(n.i)
	case classBig:
		f, _ := new(big.Float).SetInt(n.big).Float64()
		return f
	}
	return n.f
}

func (n number) String() string {
	switch n.class {
	case classUint:
		return strconv.FormatUint(n.u, 10)
	case classSint:
		return strconv.FormatInt(n.i, 10)
	case classBig:
		return n.big.String()
	}
	return strconv.FormatFloat(n.f, 'g', -1, 64)
}

// bigInt returns an integer n as a big.Int.
func (n number) bigInt() *big.Int {
	switch n.class {
	case classUint:
		return new(big.Int).SetUint64(n.u)
	case classSint:
		return big.NewInt(n.i)
	}
	return n.big
}

// generic is the plain Go value Decode gives for n.
func (n number) generic() any {
	switch n.class {
	case classUint:
		if n.u <= math.MaxInt {
			return int(n.u)
		}
		return n.u
	case classSint:
		if n.i >= math.MinInt && n.i <= math.MaxInt {
			return int(n.i)
		}
		return n.i
	case classBig:
		return n.big
	}
	return n.f
}

// setNumber stores n in v, a number or an empty interface, refusing values v cannot hold.
func setNumber(v reflect.Value, n number) error {
	overflow := func() error {
		return &DecodeError{Msg: n.String() + " does not fit in " + v.Type().String()}
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		switch n.class {
		case classUint:
			if n.u > math.MaxInt64 {
				return overflow()
			}
			i = int64(n.u)
		case classSint:
			i = n.i
		case classFloat:
			if n.f != math.Trunc(n.f) || n.f < -(1<<63) || n.f >= 1<<63 {
				return overflow()
			}
			i = int64(n.f)
		default:
			return overflow()
		}
		if v.OverflowInt(i) {
			return overflow()
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		var u uint64
		switch n.class {
		case classUint:
			u = n.u
		case classSint:
			if n.i < 0 {
				return overflow()
			}
			u = uint64(n.i)
		case classFloat:
			if n.f != math.Trunc(n.f) || n.f < 0 || n.f >= 1<<64 {
				return overflow()
			}
			u = uint64(n.f)
		default:
			return overflow()
		}
		if v.OverflowUint(u) {
			return overflow()
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		f := n.float()
		if v.OverflowFloat(f) {
			return overflow()
		}
		v.SetFloat(f)
	case reflect.Complex64, reflect.Complex128:
		v.SetComplex(complex(n.float(), 0))
	case reflect.Interface:
		if v.NumMethod() != 0 {
			return &DecodeError{Msg: "cannot decode the number " + n.String() + " into " + v.Type().String()}
		}
		v.Set(reflect.ValueOf(n.generic()))
	default:
		return &DecodeError{Msg: "cannot decode the number " + n.String() + " into " + v.Type().String()}
	}
	return nil
}

// readNumber reads the number whose head was just read: an integer, a float or a bignum.
// ok is false when the item is not a number (and then nothing more was read).
func (r *reader) readNumber(h head) (n number, ok bool, err error) {
	switch {
	case h.major == majorUint:
		return number{class: classUint, u: h.arg}, true, nil
	case h.major == majorNeg && h.arg <= math.MaxInt64:
		return intNumber(-1 - int64(h.arg)), true, nil
	case h.major == majorNeg, h.major == majorTag && (h.arg == tagPosBignum || h.arg == tagNegBignum):
		x, err := r.readBigInt(h)
		if err != nil {
			return number{}, false, err
		}
		return bigNumber(x), true, nil
	case h.major == majorSimple && h.info == infoFloat16:
		return floatNumber(float64(halfToFloat32(uint16(h.arg)))), true, nil
	case h.major == majorSimple && h.info == infoFloat32:
		return floatNumber(float64(math.Float32frombits(uint32(h.arg)))), true, nil
	case h.major == majorSimple && h.info == infoFloat64:
		return floatNumber(math.Float64frombits(h.arg)), true, nil
	}
	return number{}, false, nil
}

// readBigInt reads an integer or bignum whose head was just read.
func (r *reader) readBigInt(h head) (*big.Int, error) {
	switch {
	case h.major == majorUint:
		return new(big.Int).SetUint64(h.arg), nil
	case h.major == majorNeg:
		x := new(big.Int).SetUint64(h.arg)
		return x.Neg(x.Add(x, big.NewInt(1))), nil
	case h.major == majorTag && (h.arg == tagPosBignum || h.arg == tagNegBignum):
		bh, err := r.next()
		if err != nil {
			return nil, err
		}
		if bh.major != majorBytes {
			return nil, r.errorf("a bignum must hold a byte string, not %s", describe(bh))
		}
		b, err := r.take(bh.arg)
		if err != nil {
			return nil, err
		}
		x := new(big.Int).SetBytes(b)
		if h.arg == tagNegBignum {
			x.Neg(x.Add(x, big.NewInt(1)))
		}
		return x, nil
	}
	return nil, r.errorf("expected an integer, found %s", describe(h))
}

func decodeBool(_ *reader, h head, v reflect.Value) error {
	switch {
	case h.isNull():
		v.SetZero()
	case h.major == majorSimple && (h.info == simpleFalse || h.info == simpleTrue):
		v.SetBool(h.info == simpleTrue)
	default:
		return mismatch(h, v.Type())
	}
	return nil
}

func decodeNumber(r *reader, h head, v reflect.Value) error {
	if h.isNull() {
		v.SetZero()
		return nil
	}
	if h.major == majorText && (v.Kind() == reflect.Float32 || v.Kind() == reflect.Float64) {
		return r.decodeSpecialFloat(h, v)
	}
	n, ok, err := r.readNumber(h)
	if err != nil {
		return err
	}
	if !ok {
		return mismatch(h, v.Type())
	}
	return setNumber(v, n)
}

// decodeSpecialFloat accepts NaN and infinities written as the strings ToJSON renders them as.
func (r *reader) decodeSpecialFloat(h head, v reflect.Value) error {
	s, err := r.take(h.arg)
	if err != nil {
		return err
	}
	switch string(s) {
	case "NaN", "+Inf", "-Inf", "Inf":
		f, _ := strconv.ParseFloat(string(s), 64)
		v.SetFloat(f)
		return nil
	}
	return &DecodeError{Msg: "cannot decode the text " + strconv.Quote(string(s)) + " into " + v.Type().String()}
}

// parseKey reads a text map key into a numeric key type: JSON object keys are always text.
func parseKey(s string, v reflect.Value) error {
	var err error
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if i, err = strconv.ParseInt(s, 10, v.Type().Bits()); err == nil {
			v.SetInt(i)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		var u uint64
		if u, err = strconv.ParseUint(s, 10, v.Type().Bits()); err == nil {
			v.SetUint(u)
		}
	default:
		var f float64
		if f, err = strconv.ParseFloat(s, v.Type().Bits()); err == nil {
			v.SetFloat(f)
		}
	}
	if err != nil {
		return &DecodeError{Msg: "cannot decode the map key " + strconv.Quote(s) + " into " + v.Type().String()}
	}
	return nil
}

func decodeComplex(r *reader, h head, v reflect.Value) error {
	switch {
	case h.isNull():
		v.SetZero()
		return nil
	case h.major == majorTag && h.arg == tagComplex:
		c, err := r.readComplex(v.Type())
		if err != nil {
			return err
		}
		v.SetComplex(c)
		return nil
	case h.major == majorMap:
		return r.decodeComplexMap(h, v)
	}
	n, ok, err := r.readNumber(h)
	if err != nil {
		return err
	}
	if !ok {
		return mismatch(h, v.Type())
	}
	return setNumber(v, n)
}

// readComplex reads the [real, imaginary] content of a complex tag.
func (r *reader) readComplex(t reflect.Type) (complex128, error) {
	h, err := r.next()
	if err != nil {
		return 0, err
	}
	if h.major != majorArray || h.arg != 2 {
		return 0, &DecodeError{Msg: "cannot decode a complex tag holding " + describe(h) + " into " + t.String()}
	}
	var parts [2]float64
	for i := range parts {
		if h, err = r.next(); err != nil {
			return 0, err
		}
		n, ok, err := r.readNumber(h)
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, &DecodeError{Msg: "a complex number's part is " + describe(h) + ", not a number"}
		}
		parts[i] = n.float()
	}
	return complex(parts[0], parts[1]), nil
}

// decodeComplexMap accepts a complex number as ToJSON renders it: {"real": r, "imag": i}.
func (r *reader) decodeComplexMap(h head, v reflect.Value) error {
	var parts struct {
		Real float64 `json:"real"`
		Imag float64 `json:"imag"`
	}
	if err := decoderFor(reflect.TypeOf(parts))(r, h, reflect.ValueOf(&parts).Elem()); err != nil {
		return err
	}
	v.SetComplex(complex(parts.Real, parts.Imag))
	return nil
}

func decodeString(r *reader, h head, v reflect.Value) error {
	if h.isNull() {
		v.SetZero()
		return nil
	}
	if h.major != majorText && h.major != majorBytes {
		return mismatch(h, v.Type())
	}
	s, err := r.take(h.arg)
	if err != nil {
		return err
	}
	v.SetString(string(s))
	return nil
}

func decodeTextUnmarshaler(r *reader, h head, v reflect.Value) error {
	if h.isNull() {
		v.SetZero()
		return nil
	}
	if h.major != majorText {
		return mismatch(h, v.Type())
	}
	s, err := r.take(h.arg)
	if err != nil {
		return err
	}
	if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText(s); err != nil {
		return &DecodeError{Msg: v.Type().String() + ".UnmarshalText: " + err.Error()}
	}
	return nil
}

// decodeBinaryUnmarshaler takes a byte string, or base64 text as JSON gives one, or a struct's map as this
// codec wrote one before it knew MarshalBinary. A panic of UnmarshalBinary on hostile bytes is an error.
func decodeBinaryUnmarshaler(r *reader, h head, v reflect.Value) (err error) {
	if h.isNull() {
		v.SetZero()
		return nil
	}
	if h.major == majorMap && v.Kind() == reflect.Struct {
		return structDecoder(v.Type())(r, h, v)
	}
	if h.major != majorBytes && h.major != majorText {
		return mismatch(h, v.Type())
	}
	defer func() {
		if p := recover(); p != nil {
			err = &DecodeError{Msg: fmt.Sprintf("%s.UnmarshalBinary panicked: %v", v.Type(), p)}
		}
	}()
	b, err := r.take(h.arg)
	if err != nil {
		return err
	}
	if h.major == majorText {
		if b, err = base64.StdEncoding.AppendDecode(nil, b); err != nil {
			return &DecodeError{Msg: "cannot decode a text string into " + v.Type().String() + ": not base64"}
		}
	} else {
		b = bytes.Clone(b) // UnmarshalBinary may keep it, and it is the reader's
	}
	v.SetZero() // UnmarshalBinary may refuse a value that is not empty (gonum's matrices do)
	if err := v.Addr().Interface().(encoding.BinaryUnmarshaler).UnmarshalBinary(b); err != nil {
		return &DecodeError{Msg: v.Type().String() + ".UnmarshalBinary: " + err.Error()}
	}
	return nil
}

func decodeTime(r *reader, h head, v reflect.Value) error {
	var t time.Time
	switch {
	case h.isNull():
		v.SetZero()
		return nil
	case h.major == majorTag && h.arg == tagTimeText, h.major == majorText:
		if h.major == majorTag {
			var err error
			if h, err = r.next(); err != nil {
				return err
			}
			if h.major != majorText {
				return r.errorf("a time tag must hold a text string, not %s", describe(h))
			}
		}
		s, err := r.take(h.arg)
		if err != nil {
			return err
		}
		if t, err = time.Parse(time.RFC3339Nano, string(s)); err != nil {
			return &DecodeError{Msg: "cannot decode the text " + strconv.Quote(string(s)) + " into time.Time: not an RFC 3339 time"}
		}
	case h.major == majorTag && h.arg == tagTimeEpoch:
		nh, err := r.next()
		if err != nil {
			return err
		}
		n, ok, err := r.readNumber(nh)
		if err != nil {
			return err
		}
		if !ok || n.class == classBig {
			return r.errorf("an epoch time must hold a number, not %s", describe(nh))
		}
		switch {
		case n.class == classFloat:
			sec, frac := math.Modf(n.f)
			t = time.Unix(int64(sec), int64(frac*1e9)).UTC()
		case n.class == classSint:
			t = time.Unix(n.i, 0).UTC()
		case n.u <= math.MaxInt64:
			t = time.Unix(int64(n.u), 0).UTC()
		default:
			return &DecodeError{Msg: "the epoch time " + n.String() + " does not fit in time.Time"}
		}
	default:
		return mismatch(h, v.Type())
	}
	v.Set(reflect.ValueOf(t))
	return nil
}

func decodeBigInt(r *reader, h head, v reflect.Value) error {
	if h.isNull() {
		v.SetZero()
		return nil
	}
	var x *big.Int
	switch h.major {
	case majorUint, majorNeg, majorTag:
		if h.major == majorTag && h.arg != tagPosBignum && h.arg != tagNegBignum {
			return mismatch(h, v.Type())
		}
		var err error
		if x, err = r.readBigInt(h); err != nil {
			return err
		}
	case majorText:
		s, err := r.take(h.arg)
		if err != nil {
			return err
		}
		var ok bool
		if x, ok = new(big.Int).SetString(string(s), 10); !ok {
			return &DecodeError{Msg: "cannot decode the text " + strconv.Quote(string(s)) + " into big.Int"}
		}
	default:
		return mismatch(h, v.Type())
	}
	v.Set(reflect.ValueOf(x).Elem())
	return nil
}

// decodeBigFloat reads what encodeBigFloat writes, or a plain number.
func decodeBigFloat(r *reader, h head, v reflect.Value) error {
	if h.isNull() {
		v.SetZero()
		return nil
	}
	var x *big.Float
	var err error
	if h.major == majorArray {
		x, err = r.readBigFloat(h)
	} else {
		x, err = r.bigFloatFromNumber(h, 0, big.ToNearestEven)
	}
	if err != nil {
		return err
	}
	v.Set(reflect.ValueOf(x).Elem())
	return nil
}

func (r *reader) readBigFloat(h head) (*big.Float, error) {
	if h.arg != 4 {
		return nil, r.errorf("a big.Float must be a list of precision, mode, mantissa and exponent, not %s", describe(h))
	}
	prec, err := r.readSmallInt(0, MaxBigFloatBits, "big.Float precision")
	if err != nil {
		return nil, err
	}
	mode, err := r.readSmallInt(0, int64(big.ToPositiveInf), "big.Float rounding mode")
	if err != nil {
		return nil, err
	}
	mh, err := r.next()
	if err != nil {
		return nil, err
	}
	x, err := r.bigFloatFromNumber(mh, uint(prec), big.RoundingMode(mode))
	if err != nil {
		return nil, err
	}
	exp, err := r.readSmallInt(-MaxBigFloatBits, MaxBigFloatBits, "big.Float exponent")
	if err != nil {
		return nil, err
	}
	x.SetMantExp(x, int(exp)).SetPrec(uint(prec)) // SetPrec again: a zero's precision may be 0
	if why := bigFloatTooBig(x); why != "" {
		return nil, &DecodeError{Msg: "cannot decode a big.Float: " + why}
	}
	return x, nil
}

// bigFloatFromNumber reads a number whose head was just read as a big.Float; precision 0
// means as much as the number needs.
func (r *reader) bigFloatFromNumber(h head, prec uint, mode big.RoundingMode) (*big.Float, error) {
	n, ok, err := r.readNumber(h)
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return nil, mismatch(h, bigFloatType)
	case n.class == classFloat && math.IsNaN(n.f):
		return nil, &DecodeError{Msg: "cannot decode NaN into big.Float"}
	}
	x := new(big.Float).SetPrec(prec).SetMode(mode)
	if n.class == classFloat {
		return x.SetFloat64(n.f), nil
	}
	if prec == 0 && n.class == classBig && n.big.BitLen() > MaxBigFloatBits {
		return nil, &DecodeError{Msg: "cannot decode " + strconv.Itoa(n.big.BitLen()) + "-bit integer into big.Float: beyond " + strconv.Itoa(MaxBigFloatBits) + " bits"}
	}
	return x.SetInt(n.bigInt()), nil
}

// readSmallInt reads an integer in [lo, hi].
func (r *reader) readSmallInt(lo, hi int64, what string) (int64, error) {
	h, err := r.next()
	if err != nil {
		return 0, err
	}
	n, ok, err := r.readNumber(h)
	if err != nil {
		return 0, err
	}
	if !ok || n.class == classFloat || n.class == classBig || n.class == classUint && (n.u > uint64(hi) || int64(n.u) < lo) || n.class == classSint && (n.i < lo || n.i > hi) {
		return 0, &DecodeError{Msg: "the " + what + " must be an integer from " + strconv.FormatInt(lo, 10) + " to " + strconv.FormatInt(hi, 10) + ", not " + describe(h)}
	}
	if n.class == classUint {
		return int64(n.u), nil
	}
	return n.i, nil
}

func decodeBigRat(r *reader, h head, v reflect.Value) error {
	x := new(big.Rat)
	switch {
	case h.isNull():
		v.SetZero()
		return nil
	case h.major == majorTag && h.arg == tagRational:
		ah, err := r.next()
		if err != nil {
			return err
		}
		if ah.major != majorArray || ah.arg != 2 {
			return r.errorf("a rational must hold a list of numerator and denominator, not %s", describe(ah))
		}
		var parts [2]*big.Int
		for i := range parts {
			ph, err := r.next()
			if err != nil {
				return err
			}
			if parts[i], err = r.readBigInt(ph); err != nil {
				return err
			}
		}
		if parts[1].Sign() == 0 {
			return &DecodeError{Msg: "a rational's denominator is zero"}
		}
		x.SetFrac(parts[0], parts[1])
	case h.major == majorText:
		s, err := r.take(h.arg)
		if err != nil {
			return err
		}
		if _, ok := x.SetString(string(s)); !ok {
			return &DecodeError{Msg: "cannot decode the text " + strconv.Quote(string(s)) + " into big.Rat"}
		}
	default:
		n, ok, err := r.readNumber(h)
		if err != nil {
			return err
		}
		if !ok {
			return mismatch(h, v.Type())
		}
		if n.class == classFloat {
			if x.SetFloat64(n.f) == nil {
				return &DecodeError{Msg: n.String() + " does not fit in big.Rat"}
			}
		} else {
			x.SetInt(n.bigInt())
		}
	}
	v.Set(reflect.ValueOf(x).Elem())
	return nil
}

func pointerDecoder(t reflect.Type) decoderFunc {
	elem := decoderFor(t.Elem())
	return func(r *reader, h head, v reflect.Value) error {
		if h.isNull() {
			v.SetZero()
			return nil
		}
		p := reflect.New(t.Elem())
		if err := elem(r, h, p.Elem()); err != nil {
			return err
		}
		v.Set(p)
		return nil
	}
}

// decodeInterface decodes a registered type's value into its concrete type; anything else
// becomes a plain value (see Decode), which only the empty interface can hold.
func decodeInterface(r *reader, h head, v reflect.Value) error {
	if h.isNull() {
		v.SetZero()
		return nil
	}
	t := v.Type()
	if h.major == majorTag && h.arg == tagTypeName {
		name, vh, err := r.readTypeName()
		if err != nil {
			return err
		}
		rt, registered := registeredType(name)
		switch {
		case name == bigFloatName:
			x, err := r.decodeAs(reflect.TypeFor[*big.Float](), vh)
			if err != nil {
				return err
			}
			return setInterface(v, x, name)
		case registered:
			if !rt.AssignableTo(t) {
				return &DecodeError{Msg: "cannot decode a " + name + " into " + t.String() + ": " + rt.String() + " does not implement it"}
			}
			x, err := r.decodeAs(rt, vh)
			if err != nil {
				return err
			}
			v.Set(reflect.ValueOf(x))
			return nil
		case t.NumMethod() != 0:
			return &DecodeError{Msg: "cannot decode a " + name + " into " + t.String() + ": type " + strconv.Quote(name) + " is not registered (see codec.Register)"}
		}
		h = vh
	}
	if t.NumMethod() != 0 {
		return &DecodeError{Msg: "cannot decode " + describe(h) + " into " + t.String() + ": the value has no registered type name (see codec.Register)"}
	}
	x, err := r.decodeAny(h)
	if err != nil {
		return err
	}
	return setInterface(v, x, "")
}

func setInterface(v reflect.Value, x any, name string) error {
	if x == nil {
		v.SetZero()
		return nil
	}
	xv := reflect.ValueOf(x)
	if !xv.Type().AssignableTo(v.Type()) {
		return &DecodeError{Msg: "cannot decode a " + name + " into " + v.Type().String()}
	}
	v.Set(xv)
	return nil
}

// sliceDecoder accepts lists, byte strings (for byte slices; base64 text too, as encoding/json
// writes them) and typed arrays (for number slices; converted when the element types differ).
func sliceDecoder(t reflect.Type) decoderFunc {
	elem := t.Elem()
	elemDec := decoderFor(elem)
	isBytes := elem.Kind() == reflect.Uint8
	return func(r *reader, h head, v reflect.Value) error {
		switch {
		case h.isNull():
			v.SetZero()
		case h.major == majorArray:
			n, err := r.count(h)
			if err != nil {
				return err
			}
			s := reflect.MakeSlice(t, n, n)
			if err := r.decodeList(s, n, elemDec); err != nil {
				return err
			}
			v.Set(s)
		case h.major == majorBytes && isBytes:
			b, err := r.take(h.arg)
			if err != nil {
				return err
			}
			s := reflect.MakeSlice(t, len(b), len(b))
			copy(unsafe.Slice((*byte)(s.UnsafePointer()), len(b)), b)
			v.Set(s)
		case h.major == majorText && isBytes:
			text, err := r.take(h.arg)
			if err != nil {
				return err
			}
			b, err := base64.StdEncoding.AppendDecode(nil, text)
			if err != nil {
				return &DecodeError{Msg: "cannot decode a text string into " + t.String() + ": not base64"}
			}
			s := reflect.MakeSlice(t, len(b), len(b))
			copy(unsafe.Slice((*byte)(s.UnsafePointer()), len(b)), b)
			v.Set(s)
		case h.major == majorTag:
			packed, ok, err := r.readPackedFor(h)
			if err != nil {
				return err
			}
			if !ok {
				return mismatch(h, t)
			}
			s := reflect.MakeSlice(t, packed.len(), packed.len())
			if err := packed.store(s); err != nil {
				return err
			}
			v.Set(s)
		default:
			return mismatch(h, t)
		}
		return nil
	}
}

func (r *reader) decodeList(s reflect.Value, n int, elemDec decoderFunc) error {
	if err := r.enter(); err != nil {
		return err
	}
	defer r.leave()
	for i := range n {
		if err := r.decodeInto(s.Index(i), elemDec); err != nil {
			return withPath(err, indexSegment(i))
		}
	}
	return nil
}

// packed is a typed array read from the input, about to be stored in a slice or array.
type packed struct {
	ta      typedArray
	raw     []byte
	complex bool // pairs of floats, each pair one complex number
}

func (p packed) len() int {
	n := len(p.raw) / p.ta.size
	if p.complex {
		n /= 2
	}
	return n
}

// readPackedFor reads a typed array, or a complex tag around one, whose tag head was just read;
// ok is false when h is another tag (and then nothing more was read).
func (r *reader) readPackedFor(h head) (p packed, ok bool, err error) {
	if h.arg == tagComplex {
		p.complex = true
		if h, err = r.next(); err != nil {
			return p, false, err
		}
		if h.major != majorTag || typedArrays[h.arg].class != classFloat {
			return p, false, r.errorf("a complex tag must hold a list of two parts or a float typed array, not %s", describe(h))
		}
	}
	var known bool
	if p.ta, known = typedArrays[h.arg]; !known {
		return p, false, nil
	}
	bh, err := r.next()
	if err != nil {
		return p, false, err
	}
	if bh.major != majorBytes {
		return p, false, r.errorf("a typed array must hold a byte string, not %s", describe(bh))
	}
	if p.raw, err = r.take(bh.arg); err != nil {
		return p, false, err
	}
	unit := p.ta.size * (1 + b2i(p.complex))
	if len(p.raw)%unit != 0 {
		return p, false, r.errorf("a typed array of %s holds %d bytes, not a multiple of %d", p.ta.goName(), len(p.raw), unit)
	}
	return p, true, nil
}

// store fills s, a slice or array of p.len() elements: by a memory copy when the element types
// match, else element by element.
func (p packed) store(s reflect.Value) error {
	elem := s.Type().Elem()
	class, numeric := numericClass(elem.Kind())
	if p.complex {
		numeric, class = elem.Kind() == reflect.Complex64 || elem.Kind() == reflect.Complex128, classFloat
	}
	size := int(elem.Size()) / (1 + b2i(p.complex))
	if s.Kind() == reflect.Slice && numeric && class == p.ta.class && size == p.ta.size && !(class == classFloat && size == 2) {
		unpack(s.UnsafePointer(), p.raw, p.ta.size, p.ta.order())
		return nil
	}
	for i := range p.len() {
		var err error
		if p.complex {
			err = setComplex(s.Index(i), complex(p.ta.element(p.raw, 2*i).f, p.ta.element(p.raw, 2*i+1).f))
		} else {
			err = setNumber(s.Index(i), p.ta.element(p.raw, i))
		}
		if err != nil {
			return withPath(err, indexSegment(i))
		}
	}
	return nil
}

func setComplex(v reflect.Value, c complex128) error {
	switch {
	case v.Kind() == reflect.Complex64 || v.Kind() == reflect.Complex128:
		v.SetComplex(c)
	case v.Kind() == reflect.Interface && v.NumMethod() == 0:
		v.Set(reflect.ValueOf(c))
	default:
		return &DecodeError{Msg: "cannot decode a complex number into " + v.Type().String()}
	}
	return nil
}

func arrayDecoder(t reflect.Type) decoderFunc {
	elemDec := decoderFor(t.Elem())
	isBytes := t.Elem().Kind() == reflect.Uint8
	wrongLength := func(n int) error {
		return &DecodeError{Msg: "cannot decode " + strconv.Itoa(n) + " elements into " + t.String()}
	}
	return func(r *reader, h head, v reflect.Value) error {
		switch {
		case h.isNull():
			v.SetZero()
		case h.major == majorArray:
			n, err := r.count(h)
			if err != nil {
				return err
			}
			if n != t.Len() {
				return wrongLength(n)
			}
			return r.decodeList(v, n, elemDec)
		case h.major == majorBytes && isBytes:
			b, err := r.take(h.arg)
			if err != nil {
				return err
			}
			if len(b) != t.Len() {
				return wrongLength(len(b))
			}
			for i, c := range b {
				v.Index(i).SetUint(uint64(c))
			}
		case h.major == majorTag:
			packed, ok, err := r.readPackedFor(h)
			if err != nil {
				return err
			}
			if !ok {
				return mismatch(h, t)
			}
			if packed.len() != t.Len() {
				return wrongLength(packed.len())
			}
			return packed.store(v)
		default:
			return mismatch(h, t)
		}
		return nil
	}
}

// enterMap begins decoding a map into v, of type t: null sets v's zero value (null is true), anything else
// but a map is an error; for a map it enters one nesting level, which the caller leaves, and returns its
// number of pairs.
func (r *reader) enterMap(h head, t reflect.Type, v reflect.Value) (pairs int, null bool, err error) {
	if h.isNull() {
		v.SetZero()
		return 0, true, nil
	}
	if h.major != majorMap {
		return 0, false, mismatch(h, t)
	}
	if pairs, err = r.count(h); err != nil {
		return 0, false, err
	}
	return pairs, false, r.enter()
}

func mapDecoder(t reflect.Type) decoderFunc {
	kt, vt := t.Key(), t.Elem()
	keyDec, valueDec := decoderFor(kt), decoderFor(vt)
	_, numericKey := numericClass(kt.Kind())
	numericKey = numericKey && !isTextType(kt)
	return func(r *reader, h head, v reflect.Value) error {
		n, null, err := r.enterMap(h, t, v)
		if null || err != nil {
			return err
		}
		defer r.leave()
		m := reflect.MakeMapWithSize(t, n)
		key, value := reflect.New(kt).Elem(), reflect.New(vt).Elem()
		for range n {
			kh, err := r.next()
			if err != nil {
				return err
			}
			key.SetZero()
			if numericKey && kh.major == majorText {
				var s []byte
				if s, err = r.take(kh.arg); err == nil {
					err = parseKey(string(s), key)
				}
			} else {
				err = keyDec(r, kh, key)
			}
			if err != nil {
				return withPath(err, "[key]")
			}
			value.SetZero()
			if err := r.decodeInto(value, valueDec); err != nil {
				return withPath(err, fmt.Sprintf("[%#v]", key.Interface()))
			}
			m.SetMapIndex(key, value)
		}
		v.Set(m)
		return nil
	}
}

// structDecoder fills fields from a map's text keys: the exact encoded name, else a name that
// differs only in case (as encoding/json does). Other keys are skipped.
func structDecoder(t reflect.Type) decoderFunc {
	fields := structFields(t)
	decoders := make([]decoderFunc, len(fields.list))
	for i, f := range fields.list {
		decoders[i] = decoderFor(f.typ)
	}
	lookup := func(name []byte) (int, bool) {
		if i, ok := fields.byName[string(name)]; ok {
			return i, true
		}
		for i := range fields.list {
			if strings.EqualFold(fields.list[i].name, string(name)) {
				return i, true
			}
		}
		return 0, false
	}
	return func(r *reader, h head, v reflect.Value) error {
		n, null, err := r.enterMap(h, t, v)
		if null || err != nil {
			return err
		}
		defer r.leave()
		for range n {
			kh, err := r.next()
			if err != nil {
				return err
			}
			if kh.major != majorText {
				if err := r.skipContent(kh); err != nil {
					return err
				}
				if _, err := r.rawItem(); err != nil {
					return err
				}
				continue
			}
			name, err := r.take(kh.arg)
			if err != nil {
				return err
			}
			i, found := lookup(name)
			var fv reflect.Value
			if found {
				fv, found = fields.list[i].settable(v)
			}
			if !found {
				if _, err := r.rawItem(); err != nil {
					return err
				}
				continue
			}
			if err := r.decodeInto(fv, decoders[i]); err != nil {
				return withPath(err, "."+string(name))
			}
		}
		return nil
	}
}
