// Package codec is the binary, self-describing encoding of every value that crosses processes in
// govalent: electron arguments and outputs, from a worker to the dispatcher and on to the next
// worker. It is CBOR (RFC 8949), so the dispatcher, the HTTP API and clients in other languages
// can read a value without its Go type. It depends on the standard library only (and, in tests,
// on github.com/fxamacker/cbor/v2, against which it is measured and checked), because it is
// compiled into generated worker binaries.
//
// # Encoding
//
// Every value written by Marshal, FromJSON, Index, Key, Field, List and Dict starts with the
// self-describe tag 55799 (bytes d9 d9 f7), which no JSON text starts with: IsEncoded tells these
// values from JSON stored by earlier versions. Every decoding function accepts data with or
// without it. Go values are written as:
//
//   - bool, integers, strings: CBOR booleans, integers (shortest form), text strings
//   - float64 and float32: 64- and 32-bit floats, bit for bit (NaN, ±Inf and -0 survive)
//   - complex64/128: tag 43000 around [real, imaginary] (the tag proposed for complex numbers)
//   - []byte, named byte slices and byte arrays: byte strings
//   - slices of numbers ([]float64, []int32, []uint, ..., named too): RFC 8746 typed arrays, a
//     tag naming the element type around a byte string of little-endian elements, written and
//     read with one memory copy on little-endian machines; []complex64/128: tag 43000 around a
//     float32/float64 typed array of interleaved real and imaginary parts
//   - other slices and arrays: lists; maps: maps whose pairs are sorted by encoded key (so
//     equal maps encode equally), keys of any type
//   - nil slices, maps, pointers and interfaces: null (an empty slice or map stays empty)
//   - structs: maps from field names to values, with encoding/json's rules: exported fields
//     only, the json tag's name, "-", omitempty and omitzero honoured, embedded structs' fields
//     promoted
//   - pointers: the value pointed to (so a nil pointer inside a non-nil pointer reads back as a
//     nil outer pointer)
//   - time.Time: tag 0 around its RFC 3339 text with nanoseconds and zone offset (years 0 to
//     9999); time.Duration: its integer nanoseconds
//   - *big.Int: an integer when it fits in 64 bits, else a bignum (tag 2 or 3); *big.Rat: tag 30
//     around [numerator, denominator]; *big.Float: tag 27 around ["math/big.Float", [precision,
//     rounding mode, mantissa, exponent]] (mantissa × 2^exponent, an integer mantissa; ±0 and
//     ±Inf as a float mantissa), precision and exponent at most MaxBigFloatBits
//   - types with MarshalText and UnmarshalText: their text
//   - other types with MarshalBinary and UnmarshalBinary, except structs whose fields are all
//     exported: their bytes, as a byte string (gonum's mat.Dense, whose fields are unexported)
//   - a value of a registered type (see Register) held by an interface, or given to Marshal
//     directly: tag 27 around [type name, value]
//
// Unmarshal decodes into a Go type, converting numbers where the value fits (an integer into a
// float, a typed array of int32 into []int64, an integral float into an int), and otherwise
// returns a *DecodeError that names the Go type, what was found and where. It also accepts what
// FromJSON makes of values that went through JSON: base64 text for byte slices, RFC 3339 text for
// times, "NaN"/"+Inf"/"-Inf" for floats, {"real":..,"imag":..} for complex numbers, text map keys
// for numeric key types. Decode decodes without a Go type, into plain values.
//
// Decoding is safe on hostile input: a size claimed by a string, list, map or typed array is
// checked against the bytes left before anything is allocated, nesting is limited to MaxDepth,
// indefinite-length items are refused, and malformed data returns an error, never a panic.
//
// # JSON rendering
//
// ToJSON renders encoded data as JSON for the HTTP API, the GUI and the CLI:
//
//   - integers as JSON numbers, of any size; floats as encoding/json writes them, except that
//     NaN, +Inf and -Inf are the strings "NaN", "+Inf" and "-Inf"
//   - complex numbers as {"real": r, "imag": i}
//   - byte strings as base64 strings (standard alphabet, padded), like encoding/json
//   - times as RFC 3339 strings with nanoseconds
//   - big integers as numbers up to 53 bits (exact in every JSON reader), else decimal strings;
//     rationals and big floats as numbers when a float64 holds them exactly, else strings
//     ("1/3", or the big float's shortest decimal text)
//   - lists and typed arrays as arrays; maps as objects in encoded order, where a key that is
//     not text is written as its own JSON rendering, unquoted if that is a string: the int key 3
//     as "3", the list key [1,2] as "[1,2]". Key finds keys by the same text.
//   - a registered type's value as the value (without its type name); null and undefined as
//     null; other tags as their content
//   - invalid UTF-8 in text as U+FFFD, as encoding/json does
//
// FromJSON goes the other way, for values given as JSON by clients in other languages and for
// results stored as JSON before this codec: integral numbers (no fraction or exponent) become
// integers, of any size, other numbers float64, objects maps with text keys.
package codec
