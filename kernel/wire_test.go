package kernel

import (
	"encoding/json"
	"errors"
	"testing"
)

func frames(t testing.TB, s signer, msgType string, content any) [][]byte {
	t.Helper()
	f, err := s.encode([][]byte{[]byte("peer")}, newHeader(msgType, "sess"), nil, content)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestDecodeChecksSignatures(t *testing.T) {
	s := signer{key: []byte("secret")}
	good := frames(t, s, "execute_request", map[string]any{"code": "1"})
	m, err := s.decode(good)
	if err != nil || m.Header.MsgType != "execute_request" || string(m.Identities[0]) != "peer" {
		t.Fatalf("%+v %v", m, err)
	}
	for name, f := range map[string]func([][]byte){
		"bad signature": func(f [][]byte) { s := []byte(string(f[2])); s[0] ^= 1; f[2] = s },
		"no signature":  func(f [][]byte) { f[2] = nil },
		"changed body":  func(f [][]byte) { f[6] = []byte(`{"code":"os.Exit(1)"}`) },
	} {
		bad := append([][]byte(nil), good...)
		f(bad)
		if _, err := s.decode(bad); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := (signer{key: []byte("other")}).decode(good); !errors.Is(err, ErrBadSignature) {
		t.Errorf("wrong key: %v", err)
	}
	unsigned := frames(t, signer{}, "kernel_info_request", map[string]any{})
	if _, err := (signer{}).decode(unsigned); err != nil {
		t.Errorf("no key means no signing: %v", err)
	}
}

func TestDecodeRejectsMalformedFrames(t *testing.T) {
	s := signer{}
	ok := frames(t, s, "kernel_info_request", map[string]any{})
	cases := map[string][][]byte{
		"no delimiter":   {[]byte("peer"), []byte("{}")},
		"too few frames": ok[:4],
		"header not json": func() [][]byte {
			f := append([][]byte(nil), ok...)
			f[3] = []byte("{")
			return f
		}(),
		"no msg_type": func() [][]byte {
			f := append([][]byte(nil), ok...)
			f[3] = []byte(`{"msg_id":"x"}`)
			return f
		}(),
		"content not json": func() [][]byte {
			f := append([][]byte(nil), ok...)
			f[6] = []byte("not json")
			return f
		}(),
	}
	for name, f := range cases {
		if _, err := s.decode(f); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzDecode feeds the decoder arbitrary frames: it must return an error or a message, never panic, and a
// signed decoder must never accept a message the fuzzer did not sign.
func FuzzDecode(f *testing.F) {
	s := signer{key: []byte("k")}
	good := frames(f, s, "execute_request", map[string]any{"code": "x := 1"})
	f.Add(good[0], good[2], good[3], good[4], good[5], good[6], uint8(1))
	f.Add([]byte{}, []byte("sig"), []byte("{"), []byte("[]"), []byte(""), []byte("null"), uint8(0))
	f.Fuzz(func(t *testing.T, id, sig, header, parent, metadata, content []byte, layout uint8) {
		fs := [][]byte{id, delimiter, sig, header, parent, metadata, content}
		switch layout % 4 {
		case 1:
			fs = fs[1:] // no identity
		case 2:
			fs = append(fs, []byte("buffer"))
		case 3:
			fs = fs[:len(fs)-2] // truncated
		}
		m, err := s.decode(fs)
		if err == nil {
			if !json.Valid(m.Content) {
				t.Fatal("accepted invalid JSON content")
			}
			if string(sig) != string(s.sign(header, parent, metadata, content)) {
				t.Fatal("accepted a bad signature")
			}
		}
		(signer{}).decode(fs)
	})
}

func TestDecodeRefusesReplays(t *testing.T) {
	s := signer{key: []byte("secret"), seen: newDigestHistory(3)}
	msgs := make([][][]byte, 5)
	for i := range msgs {
		msgs[i] = frames(t, s, "execute_request", map[string]any{"code": "1"})
		if _, err := s.decode(msgs[i]); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	for i := 2; i < 5; i++ {
		if _, err := s.decode(msgs[i]); !errors.Is(err, ErrReplayed) {
			t.Errorf("replay of message %d: %v", i, err)
		}
	}
	// the history holds 3 digests: the two oldest were forgotten
	if len(s.seen.set) != 3 || len(s.seen.ring) != 3 {
		t.Fatalf("history holds %d digests, %d in order", len(s.seen.set), len(s.seen.ring))
	}
	if _, err := s.decode(msgs[0]); err != nil {
		t.Errorf("a forgotten digest: %v", err)
	}
	// a badly signed message does not enter the history, so it cannot push a real digest out
	bad := append([][]byte(nil), msgs[4]...)
	bad[2] = []byte("0000")
	for range 10 {
		s.decode(bad)
	}
	if _, err := s.decode(msgs[0]); !errors.Is(err, ErrReplayed) {
		t.Errorf("replay after bad messages: %v", err)
	}
}
