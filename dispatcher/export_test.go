package dispatcher

// SetEventRing makes d's event topics keep n events, so that a test can make a subscriber lag.
func SetEventRing(d *Dispatcher, n int) {
	h := d.engine.hub
	h.mu.Lock()
	h.ring = n
	h.mu.Unlock()
}
