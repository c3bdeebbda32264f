package native

import (
	"context"
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
