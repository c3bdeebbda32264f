//go:build ignore

// Idle event-stream clients: opens K (default 1000, $K) connections to $GOVALENT_DISPATCHER/api/v1/events on
// 127.0.0.1 that send the request and then never read a byte, like a stuck browser tab or a hostile client.
// Prints "ready K" once the dispatcher reports K event subscribers in /api/v1/status (or after 5 s if it does
// not report them), then holds the connections until stdin closes.
// Run with `go run bench/idle_sse.go` (bench/events.sh does).
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"
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
	req := "GET /api/v1/events HTTP/1.1\r\nHost: " + u.Host + "\r\nAccept: text/event-stream\r\n\r\n"
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
	waitSubscribed(base, k)
	fmt.Println("ready", len(conns))
	io.Copy(io.Discard, os.Stdin) // hold the connections until the caller is done
	for _, c := range conns {
		c.Close()
	}
}

// waitSubscribed waits until the dispatcher counts k event subscribers, for at most 5 s (a dispatcher that
// does not report them gets the 5 s).
func waitSubscribed(base string, k int) {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(base + "/api/v1/status")
		if err != nil {
			continue
		}
		var st struct {
			Subscribers *int `json:"event_subscribers"`
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err == nil && st.Subscribers != nil && *st.Subscribers >= k {
			return
		}
	}
}
