package kernel

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"
)

// ProtocolVersion is the Jupyter messaging protocol version the kernel speaks.
const ProtocolVersion = "5.3"

// delimiter separates ZeroMQ routing identities from the message proper.
var delimiter = []byte("<IDS|MSG>")

// ConnectionInfo is the connection file Jupyter hands the kernel.
type ConnectionInfo struct {
	Transport       string `json:"transport"`
	IP              string `json:"ip"`
	Key             string `json:"key"`
	SignatureScheme string `json:"signature_scheme"`
	ShellPort       int    `json:"shell_port"`
	ControlPort     int    `json:"control_port"`
	StdinPort       int    `json:"stdin_port"`
	IOPubPort       int    `json:"iopub_port"`
	HBPort          int    `json:"hb_port"`
}

// ReadConnectionFile parses a connection file.
func ReadConnectionFile(path string) (*ConnectionInfo, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ci ConnectionInfo
	if err := json.Unmarshal(data, &ci); err != nil {
		return nil, fmt.Errorf("connection file %s: %w", path, err)
	}
	if ci.SignatureScheme != "" && ci.SignatureScheme != "hmac-sha256" {
		return nil, fmt.Errorf("connection file %s: unsupported signature scheme %q", path, ci.SignatureScheme)
	}
	if ci.Transport == "" {
		ci.Transport = "tcp"
	}
	return &ci, nil
}

func (ci *ConnectionInfo) endpoint(port int) string {
	return fmt.Sprintf("%s://%s:%d", ci.Transport, ci.IP, port)
}

// Header is a message header.
type Header struct {
	MsgID    string `json:"msg_id"`
	Session  string `json:"session"`
	Username string `json:"username"`
	Date     string `json:"date"`
	MsgType  string `json:"msg_type"`
	Version  string `json:"version"`
}

// Message is one Jupyter message with the routing identities it came with.
type Message struct {
	Identities   [][]byte
	Header       Header
	ParentHeader json.RawMessage
	Metadata     map[string]any
	Content      json.RawMessage
	Buffers      [][]byte
}

// ErrBadSignature is returned for messages whose HMAC does not match: they are dropped, never run.
var ErrBadSignature = errors.New("bad message signature")

// ErrReplayed is returned for a correctly signed message whose signature was seen before: a replay, dropped.
var ErrReplayed = errors.New("replayed message (duplicate signature)")

// signer computes and checks HMAC-SHA256 signatures; with an empty key, messages are unsigned. With seen set,
// decode also refuses a message whose signature it accepted before, as jupyter_client's Session does.
type signer struct {
	key  []byte
	seen *digestHistory
}

// digestHistorySize is jupyter_client's Session.digest_history_size.
const digestHistorySize = 1 << 16

// digestHistory is a bounded set of the signatures of accepted messages. Past max entries the oldest is
// forgotten (jupyter_client culls a random tenth instead): only correctly signed messages enter it, so only the
// frontend, not an attacker, moves it along, and a replay must wait for max newer requests.
type digestHistory struct {
	mu   sync.Mutex
	max  int
	set  map[[sha256.Size]byte]struct{}
	ring [][sha256.Size]byte // insertion order; next is the oldest once full
	next int
}

func newDigestHistory(max int) *digestHistory {
	return &digestHistory{max: max, set: make(map[[sha256.Size]byte]struct{})}
}

// add records a digest and reports whether it is new.
func (h *digestHistory) add(d [sha256.Size]byte) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, dup := h.set[d]; dup {
		return false
	}
	h.set[d] = struct{}{}
	if len(h.ring) < h.max {
		h.ring = append(h.ring, d)
		return true
	}
	delete(h.set, h.ring[h.next])
	h.ring[h.next] = d
	h.next = (h.next + 1) % h.max
	return true
}

func (s signer) sign(parts ...[]byte) []byte {
	if len(s.key) == 0 {
		return nil
	}
	mac := hmac.New(sha256.New, s.key)
	for _, p := range parts {
		mac.Write(p)
	}
	sum := mac.Sum(nil)
	out := make([]byte, hex.EncodedLen(len(sum)))
	hex.Encode(out, sum)
	return out
}

// decode parses the frames of a message received on a ROUTER socket, checking its signature.
func (s signer) decode(frames [][]byte) (*Message, error) {
	i := 0
	for i < len(frames) && !bytes.Equal(frames[i], delimiter) {
		i++
	}
	if i == len(frames) {
		return nil, errors.New("no <IDS|MSG> delimiter")
	}
	if len(frames) < i+6 {
		return nil, fmt.Errorf("%d frames after the delimiter, need 5", len(frames)-i-1)
	}
	sig, header, parent, metadata, content := frames[i+1], frames[i+2], frames[i+3], frames[i+4], frames[i+5]
	if len(s.key) > 0 {
		want := s.sign(header, parent, metadata, content)
		if !hmac.Equal(sig, want) {
			return nil, ErrBadSignature
		}
		if s.seen != nil {
			// sig equals want, so it is hex: the digest is its decoding
			var d [sha256.Size]byte
			hex.Decode(d[:], sig)
			if !s.seen.add(d) {
				return nil, ErrReplayed
			}
		}
	}
	m := &Message{Identities: frames[:i], Buffers: frames[i+6:]}
	if err := json.Unmarshal(header, &m.Header); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if m.Header.MsgType == "" {
		return nil, errors.New("header without msg_type")
	}
	if !json.Valid(parent) || !json.Valid(content) {
		return nil, errors.New("parent header or content is not JSON")
	}
	m.ParentHeader, m.Content = parent, content
	if len(metadata) > 0 {
		if err := json.Unmarshal(metadata, &m.Metadata); err != nil {
			return nil, fmt.Errorf("metadata: %w", err)
		}
	}
	return m, nil
}

// encode builds the frames of a message: identities, delimiter, signature, header, parent, metadata, content.
func (s signer) encode(identities [][]byte, h Header, parent json.RawMessage, content any) ([][]byte, error) {
	header, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	if len(parent) == 0 {
		parent = json.RawMessage("{}")
	}
	body, err := json.Marshal(content)
	if err != nil {
		return nil, err
	}
	metadata := []byte("{}")
	frames := make([][]byte, 0, len(identities)+6)
	frames = append(frames, identities...)
	frames = append(frames, delimiter, s.sign(header, parent, metadata, body), header, parent, metadata, body)
	return frames, nil
}

// newHeader makes a header for a message the kernel sends.
func newHeader(msgType, session string) Header {
	return Header{
		MsgID: uuid.NewString(), Session: session, Username: "govalent", MsgType: msgType, Version: ProtocolVersion,
		Date: time.Now().UTC().Format("2006-01-02T15:04:05.000000Z07:00"),
	}
}
