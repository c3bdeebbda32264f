package native

import (
	"context"
	"debug/elf"
	"runtime"
	"testing"
)

func TestQuickBuild(t *testing.T) {
	b, err := NewBuilder(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	src := "package main\n\nimport (\n\t\"fmt\"\n)\n\n/*line cell1:1:1*/func add(a, b int) int { fmt.Println(a); return a + b }\n"
	bin, err := b.Build(context.Background(), src, Host())
	if err != nil {
		t.Fatal(err)
	}
	t.Log(bin.Path, bin.BuildTime)
	bin, err = b.Build(context.Background(), src, Host())
	t.Log(bin.Path, bin.BuildTime, err)
	_, err = b.Build(context.Background(), src+"/*line cell2:3:1*/func bad() { x := 1 }\n", Host())
	t.Log(err)
}

// A program builds for a platform other than the host's (what a Redis worker on another machine names): a
// statically linked executable for that machine, with the hash it is fetched by.
func TestBuildForAnotherPlatform(t *testing.T) {
	other, machine := Platform{"linux", "arm64"}, elf.EM_AARCH64
	if runtime.GOARCH == "arm64" {
		other, machine = Platform{"linux", "amd64"}, elf.EM_X86_64
	}
	b, err := NewBuilder(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := b.Build(context.Background(), "package main\n\nfunc Double(x int) int { return 2 * x }\n", other)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(bin.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != machine || f.Type != elf.ET_EXEC {
		t.Fatalf("built a %v %v for %s", f.Type, f.Machine, other)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("dynamically linked: it needs a loader (and maybe a libc) on the worker")
		}
	}
	if hash, err := fileHash(bin.Path); err != nil || hash != bin.Hash || bin.Platform != other {
		t.Fatalf("hash %s, binary %+v: %v", hash, bin, err)
	}
}
