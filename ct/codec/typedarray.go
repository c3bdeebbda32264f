package codec

import (
	"encoding/binary"
	"math"
	"reflect"
	"unsafe"
)

// Tag numbers this package writes or understands.
const (
	tagTimeText     = 0     // RFC 3339 date/time string
	tagTimeEpoch    = 1     // seconds since the epoch
	tagPosBignum    = 2     // unsigned bignum (big-endian magnitude)
	tagNegBignum    = 3     // negative bignum: -1 - magnitude
	tagTypeName     = 27    // [type name, value]: a registered Go type, or math/big.Float
	tagRational     = 30    // [numerator, denominator]
	tagComplex      = 43000 // [real, imaginary], or a typed float array of interleaved parts
	tagSelfDescribe = 55799 // "this is CBOR": starts every encoded value
)

var tagNames = map[uint64]string{
	tagTimeText:  "a time",
	tagTimeEpoch: "an epoch time",
	tagPosBignum: "a big integer",
	tagNegBignum: "a big integer",
	tagTypeName:  "a typed value",
	tagRational:  "a rational number",
	tagComplex:   "a complex number",
}

// numClass is the kind of number held by a typed array element or a decoded scalar.
type numClass uint8

const (
	classUint numClass = iota
	classSint
	classFloat
	classBig // a decoded integer beyond 64 bits
)

// typedArray describes an RFC 8746 typed array tag: a byte string holding packed numbers.
type typedArray struct {
	class     numClass
	size      int // bytes per element
	bigEndian bool
}

var typedArrays = map[uint64]typedArray{
	64: {classUint, 1, false}, 68: {classUint, 1, false}, // 68: uint8 clamped
	65: {classUint, 2, true}, 66: {classUint, 4, true}, 67: {classUint, 8, true},
	69: {classUint, 2, false}, 70: {classUint, 4, false}, 71: {classUint, 8, false},
	72: {classSint, 1, false},
	73: {classSint, 2, true}, 74: {classSint, 4, true}, 75: {classSint, 8, true},
	77: {classSint, 2, false}, 78: {classSint, 4, false}, 79: {classSint, 8, false},
	80: {classFloat, 2, true}, 81: {classFloat, 4, true}, 82: {classFloat, 8, true},
	84: {classFloat, 2, false}, 85: {classFloat, 4, false}, 86: {classFloat, 8, false},
}

// littleEndianTag is the tag this package writes for a class and element size.
func littleEndianTag(class numClass, size int) uint64 {
	for tag, ta := range typedArrays {
		if ta.class == class && ta.size == size && !ta.bigEndian && tag != 68 {
			return tag
		}
	}
	panic("codec: no typed array tag for this element") // unreachable: callers pass Go's sizes
}

func (ta typedArray) order() binary.ByteOrder {
	if ta.bigEndian {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// goType is the slice element type that holds this array's elements without conversion
// (float16 widens to float32).
func (ta typedArray) goType() reflect.Type {
	switch ta.class {
	case classFloat:
		if ta.size == 8 {
			return reflect.TypeFor[float64]()
		}
		return reflect.TypeFor[float32]()
	case classSint:
		return [...]reflect.Type{1: reflect.TypeFor[int8](), 2: reflect.TypeFor[int16](), 4: reflect.TypeFor[int32](), 8: reflect.TypeFor[int64]()}[ta.size]
	}
	return [...]reflect.Type{1: reflect.TypeFor[uint8](), 2: reflect.TypeFor[uint16](), 4: reflect.TypeFor[uint32](), 8: reflect.TypeFor[uint64]()}[ta.size]
}

// floatBits is the precision in which a float element is written on its own (float16 as float32).
func (ta typedArray) floatBits() int {
	if ta.size == 8 {
		return 64
	}
	return 32
}

func (ta typedArray) goName() string {
	if ta.class == classFloat && ta.size == 2 {
		return "float16"
	}
	return ta.goType().String()
}

// element returns element i of packed data as a number.
func (ta typedArray) element(data []byte, i int) number {
	p := data[i*ta.size:]
	var bits uint64
	switch ta.size {
	case 1:
		bits = uint64(p[0])
	case 2:
		bits = uint64(ta.order().Uint16(p))
	case 4:
		bits = uint64(ta.order().Uint32(p))
	default:
		bits = ta.order().Uint64(p)
	}
	switch ta.class {
	case classFloat:
		switch ta.size {
		case 2:
			return floatNumber(float64(halfToFloat32(uint16(bits))))
		case 4:
			return floatNumber(float64(math.Float32frombits(uint32(bits))))
		}
		return floatNumber(math.Float64frombits(bits))
	case classSint:
		shift := 64 - 8*ta.size // sign-extend
		return intNumber(int64(bits<<shift) >> shift)
	}
	return number{class: classUint, u: bits}
}

// numericClass says whether a slice of kind k can be a typed array, and as which class.
func numericClass(k reflect.Kind) (numClass, bool) {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return classSint, true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return classUint, true
	case reflect.Float32, reflect.Float64:
		return classFloat, true
	}
	return 0, false
}

// hostLittleEndian selects memory copies for little-endian typed arrays; tests clear it to run
// the portable element-by-element code that big-endian hosts use.
var hostLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// appendPacked appends n elements of the given size, starting at p, in little-endian order.
func appendPacked(b []byte, p unsafe.Pointer, n, size int) []byte {
	if hostLittleEndian {
		return append(b, unsafe.Slice((*byte)(p), n*size)...)
	}
	for i := range n {
		q := unsafe.Add(p, i*size)
		switch size {
		case 1:
			b = append(b, *(*uint8)(q))
		case 2:
			b = binary.LittleEndian.AppendUint16(b, *(*uint16)(q))
		case 4:
			b = binary.LittleEndian.AppendUint32(b, *(*uint32)(q))
		default:
			b = binary.LittleEndian.AppendUint64(b, *(*uint64)(q))
		}
	}
	return b
}

// unpack stores packed elements of the given size and byte order into memory at dst, which
// holds len(src)/size native elements of that size.
func unpack(dst unsafe.Pointer, src []byte, size int, order binary.ByteOrder) {
	if size == 1 || hostLittleEndian == (order == binary.LittleEndian) {
		copy(unsafe.Slice((*byte)(dst), len(src)), src)
		return
	}
	for i := range len(src) / size {
		q, p := unsafe.Add(dst, i*size), src[i*size:]
		switch size {
		case 2:
			*(*uint16)(q) = order.Uint16(p)
		case 4:
			*(*uint32)(q) = order.Uint32(p)
		default:
			*(*uint64)(q) = order.Uint64(p)
		}
	}
}

// halfToFloat32 widens an IEEE 754 half-precision float (CBOR's float16) to float32, exactly: every half is a
// float32. (Written out rather than imported so that the package needs the standard library alone.)
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f && frac == 0: // ±Inf
		return math.Float32frombits(sign | 0xff<<23)
	case exp == 0x1f: // NaN, keeping its payload and made quiet, as conversion instructions do
		return math.Float32frombits(sign | 0xff<<23 | 1<<22 | frac<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
	case frac == 0: // ±0
		return math.Float32frombits(sign)
	}
	// subnormal: frac × 2^-24
	f := float32(frac) / (1 << 24)
	if sign != 0 {
		f = -f
	}
	return f
}
