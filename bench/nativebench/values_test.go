package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"reflect"
	"testing"

	gojson "github.com/goccy/go-json"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/ct/wire"
	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/results/objects"
)

// chainFloats is the value bench/chain.go passes from Make to Sum: 5,000,000 float64 with all their digits.
func chainFloats() []float64 {
	xs := make([]float64, 5000000)
	for i := range xs {
		xs[i] = math.Sqrt(float64(i))
	}
	return xs
}

// BenchmarkChainValue times, one by one, the steps that the chain's value takes between its two electrons, with
// the codecs govalent uses for each (values are encoded with ct/codec): encode is Make's output (ct.EncodeOutput), native-hop
// one pipe message between a worker process and its native worker (wire.WriteNativeReply and ReadNativeReply;
// the value makes this hop twice), outcome the worker's outcome to the dispatcher and task Sum's task to a worker
// (goccy/go-json, encoded and decoded), store the object store's write (temporary file, fsync, rename), decode
// Sum's argument (ct.DecodeArgs).
func BenchmarkChainValue(b *testing.B) {
	xs := chainFloats()
	raw, err := ct.EncodeOutput(reflect.TypeOf(chainFloats), "Make", []reflect.Value{reflect.ValueOf(xs)})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("the value is %d bytes encoded", len(raw))
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			if _, err := ct.EncodeOutput(reflect.TypeOf(chainFloats), "Make", []reflect.Value{reflect.ValueOf(xs)}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("native-hop", func(b *testing.B) {
		for b.Loop() {
			var pipe bytes.Buffer
			w := bufio.NewWriter(&pipe)
			wire.WriteNativeReply(w, &wire.NativeReply{Output: raw})
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
			if _, err := wire.ReadNativeReply(bufio.NewReader(&pipe)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("outcome", func(b *testing.B) {
		for b.Loop() {
			roundTrip(b, &executors.Outcome{Output: raw}, &executors.Outcome{})
		}
	})
	b.Run("task", func(b *testing.B) {
		for b.Loop() {
			roundTrip(b, &executors.Task{Entry: "Sum", Args: [][]byte{raw}}, &executors.Task{})
		}
	})
	b.Run("store", func(b *testing.B) {
		dir, err := objects.NewDir(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; b.Loop(); i++ {
			if err := dir.Put(context.Background(), fmt.Sprintf("value%d", i), bytes.NewReader(raw)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		sumType := reflect.TypeOf(func([]float64) float64 { return 0 })
		for b.Loop() {
			if _, err := ct.DecodeArgs(sumType, "Sum", [][]byte{raw}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// roundTrip encodes v and decodes it into out with goccy/go-json, the pool's wire codec.
func roundTrip(b *testing.B, v, out any) {
	data, err := gojson.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	if err := gojson.Unmarshal(data, out); err != nil {
		b.Fatal(err)
	}
}
