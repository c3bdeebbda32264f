// Coroutines for govalent's port of package iter: the runtime's coroutines are out of yaegi's reach, so a
// goroutine runs the function and control passes between it and its caller over a channel, one side at a time,
// as runtime.coroswitch passes it.

package iter

type coro struct {
	f       func(*coro)
	started bool
	inside  bool          // control is in f's goroutine
	handoff chan struct{} // passes control to the other side
}

func newcoro(f func(*coro)) *coro {
	return &coro{f: f, handoff: make(chan struct{})}
}

// coroswitch passes control to the other side and waits for it to come back; when f returns, control comes
// back for good.
func coroswitch(c *coro) {
	if c.inside {
		c.inside = false
		c.handoff <- struct{}{}
		<-c.handoff
		return
	}
	c.inside = true
	if !c.started {
		c.started = true
		go func() {
			<-c.handoff
			c.f(c)
			c.inside = false
			c.handoff <- struct{}{}
		}()
	}
	c.handoff <- struct{}{}
	<-c.handoff
}
