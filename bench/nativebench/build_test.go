package main

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/govalent/govalent/native"
)

// smallProgram is a shipped program of one electron, as package interp writes it; nonce makes each one new.
func smallProgram(nonce int64) string {
	return fmt.Sprintf("package main\n\n// program %d\n\n/*line cell1:1:1*/func Inc(i int) int { return i + 1 }\n", nonce)
}

// BenchmarkBuildCold builds a new program into a fresh native cache directory each time: what the first dispatch
// of a program waits for on a dispatcher whose toolchain has its standard library (and govalent's SDK) in the
// Go build cache. Finding the toolchain (NewBuilder, once per dispatcher) is not timed.
func BenchmarkBuildCold(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir, err := os.MkdirTemp("", "nativebench")
		if err != nil {
			b.Fatal(err)
		}
		builder, err := native.NewBuilder(dir, nil)
		if err != nil {
			b.Fatal(err)
		}
		src := smallProgram(time.Now().UnixNano())
		b.StartTimer()
		bin, err := builder.Build(context.Background(), src, native.Host())
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if bin.BuildTime == 0 {
			b.Fatal("a fresh cache directory gave a cache hit")
		}
		os.RemoveAll(dir)
		b.StartTimer()
	}
}

// BenchmarkBuildCached asks for a binary that is built already, as the dispatcher does (Cached, then Build): "dispatcher" on the builder that built it (every
// later dispatch of the program), "restart" on a new builder over the same directory (the first dispatch after
// the dispatcher restarts; NewBuilder not timed).
func BenchmarkBuildCached(b *testing.B) {
	dir := b.TempDir()
	builder, err := native.NewBuilder(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	src := smallProgram(time.Now().UnixNano())
	if _, err := builder.Build(context.Background(), src, native.Host()); err != nil {
		b.Fatal(err)
	}
	hit := func(b *testing.B, builder *native.Builder) {
		if !builder.Cached(src, native.Host()) {
			b.Fatal("not cached")
		}
		if _, err := builder.Build(context.Background(), src, native.Host()); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("dispatcher", func(b *testing.B) {
		for b.Loop() {
			hit(b, builder)
		}
	})
	b.Run("restart", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			fresh, err := native.NewBuilder(dir, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			hit(b, fresh)
		}
	})
}
