package ct

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// How Watch paces itself.
const (
	// watchInterval is the least time between two reads of the progress while events keep coming: a burst
	// of node events costs one read, not one per event. A dispatch event (the dispatch started or ended) is
	// read at once.
	watchInterval = 250 * time.Millisecond
	// watchStall is how long an event stream may stay silent before it is taken for dead: the dispatcher
	// sends a ping every 15 s.
	watchStall = 45 * time.Second
	// Watch retries a dispatcher that does not answer (or refuses the stream) from watchRetryMin, doubling up
	// to watchRetryMax, and gives up after watchGiveUp without an answer.
	watchRetryMin = 100 * time.Millisecond
	watchRetryMax = 2 * time.Second
	watchGiveUp   = time.Minute
)

// Progress returns a dispatch's state in counts.
func (c *Client) Progress(ctx context.Context, id string) (*Progress, error) {
	var p Progress
	if err := c.do(ctx, http.MethodGet, "/api/v1/dispatches/"+url.PathEscape(id)+"/progress", nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Watch follows a dispatch's progress on the dispatcher's event stream. The channel holds the current
// Progress at once, then the latest one whenever the dispatch has changed (a reader that falls behind gets
// the latest, not every one); it is closed after the Progress that is Done, or when ctx is done, or when the
// dispatcher has not answered for a minute or the dispatch is gone (the caller's next request tells why).
// Events only say that something changed: each change is read from the progress endpoint, which counts in
// the dispatcher, so no node's value travels. Watch subscribes before it reads, so no change is missed; when
// the stream ends (it lagged, the connection dropped, the dispatcher restarted) it subscribes and reads
// again. The error is that of the first subscription or read: no dispatcher, an unknown dispatch.
func (c *Client) Watch(ctx context.Context, id string) (<-chan Progress, error) {
	st, err := c.subscribe(ctx, id)
	if err != nil && !retryable(err) {
		return nil, err
	}
	p, perr := c.Progress(ctx, id)
	if perr != nil {
		if st != nil {
			st.close()
		}
		return nil, perr
	}
	ch := make(chan Progress, 1)
	ch <- *p
	if p.Done() {
		if st != nil {
			st.close()
		}
		close(ch)
		return ch, nil
	}
	go c.watch(ctx, id, st, ch)
	return ch, nil
}

// watch follows the stream st (nil when the dispatcher refused it), subscribing again whenever it ends.
func (c *Client) watch(ctx context.Context, id string, st *eventStream, ch chan Progress) {
	defer close(ch)
	var failing time.Time // since when the dispatcher has not answered; zero while it does
	delay := watchRetryMin
	for {
		if st != nil {
			finished := c.follow(ctx, id, st, ch)
			st.close()
			if finished {
				return
			}
		}
		// Subscribe, then read: a change in between is both in what is read and on the stream.
		var serr error
		st, serr = c.subscribe(ctx, id)
		p, err := c.Progress(ctx, id)
		if err == nil {
			offer(ch, *p)
			if p.Done() {
				if st != nil {
					st.close()
				}
				return
			}
			failing = time.Time{}
			if serr == nil {
				delay = watchRetryMin
				continue
			}
			err = serr // the dispatcher answers but refuses the stream: read again after a while
		} else if st != nil {
			st.close()
			st = nil
		}
		if ctx.Err() != nil || !retryable(err) {
			return
		}
		if p == nil && failing.IsZero() {
			failing = time.Now()
		} else if p == nil && time.Since(failing) > watchGiveUp {
			return
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return
		}
		delay = min(2*delay, watchRetryMax)
	}
}

// follow reads the progress again as events come, until the dispatch is done (finished is true), ctx is
// done (true too), or the stream ends or fails (false: the caller subscribes again).
func (c *Client) follow(ctx context.Context, id string, st *eventStream, ch chan Progress) (finished bool) {
	stall := time.NewTimer(watchStall)
	defer stall.Stop()
	var (
		changed bool
		now     bool             // a dispatch event: read without waiting for watchInterval
		last    time.Time        // when the progress was last read
		later   <-chan time.Time // set while a read waits for watchInterval
	)
	for {
		select {
		case typ, ok := <-st.events:
			if !ok {
				return false
			}
			stall.Reset(watchStall)
			switch typ {
			case "node":
				changed = true
			case "dispatch":
				changed, now = true, true
			case "lagged": // events were lost: read the state afresh
				return false
			}
		case <-later:
			later = nil
		case <-stall.C:
			return false
		case <-ctx.Done():
			return true
		}
		if !changed {
			continue
		}
		if wait := watchInterval - time.Since(last); !now && wait > 0 {
			if later == nil {
				later = time.After(wait)
			}
			continue
		}
		p, err := c.Progress(ctx, id)
		if err != nil {
			return ctx.Err() != nil
		}
		last, changed, now, later = time.Now(), false, false, nil
		offer(ch, *p)
		if p.Done() {
			return true
		}
	}
}

// offer puts p in ch (capacity 1, sent to only by the caller), in place of one the reader has not taken.
func offer(ch chan Progress, p Progress) {
	select {
	case <-ch:
	default:
	}
	ch <- p
}

// retryable reports whether err may pass if the request is made again: the dispatcher does not answer
// (or is restarting), or refuses for now (too many streams).
func retryable(err error) bool {
	var api *APIError
	return errors.Is(err, ErrUnreachable) || errors.As(err, &api) && api.Code >= 500
}

// eventStream is a subscription to a dispatch's events.
type eventStream struct {
	events <-chan string // each event's type; "" for a comment (the dispatcher's pings)
	close  context.CancelFunc
}

// subscribe opens the event stream of dispatch id. It returns once the dispatcher has answered, and so has
// subscribed: what changes afterwards is on the stream.
func (c *Client) subscribe(ctx context.Context, id string) (*eventStream, error) {
	ctx, cancel := context.WithCancel(ctx)
	hc := *c.HTTP
	hc.Timeout = 0     // a client's timeout covers reading the body, which a stream never ends; stalls are caught below
	wait := watchStall // for the answer, which the dispatcher sends as soon as it has subscribed
	if c.HTTP.Timeout > 0 {
		wait = min(wait, c.HTTP.Timeout)
	}
	answered := time.AfterFunc(wait, cancel)
	resp, err := c.send(ctx, &hc, http.MethodGet, "/api/v1/events?dispatch_id="+url.QueryEscape(id), nil)
	if !answered.Stop() && err != nil {
		err = &APIError{Code: http.StatusGatewayTimeout, Message: "the event stream did not answer in " + wait.String()}
	}
	if err != nil {
		cancel()
		return nil, err
	}
	events := make(chan string)
	go func() {
		defer resp.Body.Close()
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		typ := ""
		for sc.Scan() {
			line := sc.Text()
			send := false
			switch {
			case strings.HasPrefix(line, "event:"):
				typ = strings.TrimSpace(line[len("event:"):])
			case strings.HasPrefix(line, ":"):
				typ, send = "", true
			case line == "":
				send = typ != ""
			}
			if send {
				select {
				case events <- typ:
				case <-ctx.Done():
					return
				}
				typ = ""
			}
		}
	}()
	return &eventStream{events: events, close: cancel}, nil
}
