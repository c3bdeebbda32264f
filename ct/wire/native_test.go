package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"runtime"
	"testing"
)

var (
	calls = []NativeCall{
		{Seq: 1, Entry: "main.Inc", Args: [][]byte{[]byte("41")}},
		{Seq: 300, Entry: "main.F#2", Args: [][]byte{[]byte(`"x"`), {}, bytes.Repeat([]byte("y"), 70_000)}, StartBy: 1_700_000_000_123_456_789, Files: `["in.txt"]`},
		{Seq: 2, Args: [][]byte{}, StartBy: -5},
		{Skip: 1 << 40, Args: [][]byte{}},
	}
	replies = []NativeReply{
		{Output: []byte("42"), Start: 10, End: 20, Stdout: 1 << 33, Stderr: 7},
		{Error: "panic: boom (at cell3:5)", Stack: "goroutine 1 [running]:\n...", Cell: "cell3:5", Start: -1, End: 1},
		{Skipped: true},
		{Late: true, Stdout: -1},
		{Output: bytes.Repeat([]byte("z"), 100_000), Skipped: true, Late: true},
	}
)

// Calls and replies come back as they were written, one after another on a stream, which then ends with io.EOF.
func TestNativeCallsAndRepliesRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	for i := range calls {
		WriteNativeCall(w, &calls[i])
	}
	w.Flush()
	r := bufio.NewReader(&buf)
	for _, want := range calls {
		got, err := ReadNativeCall(r)
		if err != nil || !reflect.DeepEqual(*got, want) {
			t.Fatalf("read %+v (%v), want %+v", got, err, want)
		}
	}
	if _, err := ReadNativeCall(r); err != io.EOF {
		t.Fatalf("after the last call: %v, want io.EOF", err)
	}

	for i := range replies {
		WriteNativeReply(w, &replies[i])
	}
	w.Flush()
	for _, want := range replies {
		got, err := ReadNativeReply(r)
		if err != nil || !reflect.DeepEqual(*got, want) {
			t.Fatalf("read %+v (%v), want %+v", got, err, want)
		}
	}
	if _, err := ReadNativeReply(r); err != io.EOF {
		t.Fatalf("after the last reply: %v, want io.EOF", err)
	}
}

// A call or a reply cut short anywhere is an error that says so, never io.EOF (a clean end) nor a panic.
func TestNativeCallsAndRepliesCutShort(t *testing.T) {
	var call, reply bytes.Buffer
	w := bufio.NewWriter(&call)
	WriteNativeCall(w, &NativeCall{Seq: 300, Entry: "main.F", Args: [][]byte{[]byte(`"x"`), []byte("7")}, StartBy: 1 << 50, Skip: 1})
	w.Flush()
	w = bufio.NewWriter(&reply)
	WriteNativeReply(w, &replies[1])
	w.Flush()
	for _, c := range []struct {
		data []byte
		read func(*bufio.Reader) error
	}{
		{call.Bytes(), func(r *bufio.Reader) error { _, err := ReadNativeCall(r); return err }},
		{reply.Bytes(), func(r *bufio.Reader) error { _, err := ReadNativeReply(r); return err }},
	} {
		for n := 1; n < len(c.data); n++ {
			if err := c.read(bufio.NewReader(bytes.NewReader(c.data[:n]))); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("%d of %d bytes: %v, want io.ErrUnexpectedEOF", n, len(c.data), err)
			}
		}
	}
}

// A length that the stream does not hold fails at the stream's end, having allocated no more than bigField.
func TestNativeReplyWithALyingLength(t *testing.T) {
	data := append(binaryUvarint(1<<62), "short"...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := ReadNativeReply(bufio.NewReader(bytes.NewReader(data))); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("%v, want io.ErrUnexpectedEOF", err)
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > bigField+1<<20 {
		t.Fatalf("allocated %d bytes", n)
	}
}

func binaryUvarint(v uint64) []byte {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	writeUvarint(w, v)
	w.Flush()
	return b.Bytes()
}

// Whatever the bytes, reading fails or gives calls and replies, without a panic.
func FuzzReadNativeCallAndReply(f *testing.F) {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	WriteNativeCall(w, &calls[1])
	WriteNativeReply(w, &replies[1])
	w.Flush()
	f.Add(buf.Bytes())
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		for {
			if _, err := ReadNativeCall(r); err != nil {
				break
			}
		}
		r = bufio.NewReader(bytes.NewReader(data))
		for {
			if _, err := ReadNativeReply(r); err != nil {
				break
			}
		}
	})
}
