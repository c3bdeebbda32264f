//go:build ignore

// Idle event-stream clients: opens K (default 1000, $K) connections to $GOVALENT_DISPATCHER/api/v1/events on
// 127.0.0.1 that send the request and then never read a byte, like a stuck browser tab or a hostile client.
// Prints "ready K" once the dispatcher reports K event subscribers in /api/v1/status (and fails if it does not
// within 5 s), then holds the connections until stdin closes.
// Run with `go run bench/idle_sse.go` (bench/events.sh does).
package main

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/internal/credential"
)

func main() {
	k := 1000
	if v := os.Getenv("K"); v != "" {
		var err error
		if k, err = strconv.Atoi(v); err != nil {
			panic(fmt.Sprintf("K=%q: %v", v, err))
		}
	}
	base := os.Getenv("GOVALENT_DISPATCHER")
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		panic(fmt.Sprintf("GOVALENT_DISPATCHER=%q: %v", base, err))
	}
	// With the user's token, as a browser tab of the web UI would have it: the clients must be subscribed.
	req := "GET /api/v1/events HTTP/1.1\r\nHost: " + u.Host + "\r\nAccept: text/event-stream\r\nAuthorization: Bearer " +
		credential.Token() + "\r\n\r\n"
	conns := make([]net.Conn, 0, k)
	for range k {
		c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
		if err != nil {
			panic(fmt.Sprintf("connection %d: %v", len(conns), err))
		}
		if _, err := io.WriteString(c, req); err != nil {
			panic(err)
		}
		conns = append(conns, c)
	}
	if !waitSubscribed(base, k) {
		panic(fmt.Sprintf("the dispatcher did not count %d event subscribers within 5 s", k))
	}
	fmt.Println("ready", len(conns))
	io.Copy(io.Discard, os.Stdin) // hold the connections until the caller is done
	for _, c := range conns {
		c.Close()
	}
}

// waitSubscribed waits until the dispatcher counts k event subscribers, for at most 5 s.
func waitSubscribed(base string, k int) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var st struct {
			Subscribers *int `json:"event_subscribers"`
		}
		if err := ct.NewClient(base).Status(&st); err == nil && st.Subscribers != nil && *st.Subscribers >= k {
			return true
		}
	}
	return false
}
