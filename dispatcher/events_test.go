package dispatcher

import "testing"

// A subscriber that stops reading gets as many events as fit, then one "lagged" event, then nothing more until
// it reads again.
func TestHubTellsASlowSubscriberItLagged(t *testing.T) {
	h := newHub()
	ch := h.subscribe(eventFilter{})
	defer h.unsubscribe(ch)
	for range 2 * cap(ch) {
		h.publish(Event{Type: "node", DispatchID: "d"})
	}
	if len(ch) != cap(ch) {
		t.Fatalf("%d events buffered, want %d", len(ch), cap(ch))
	}
	for i := 0; i < cap(ch)-1; i++ {
		if ev := <-ch; ev.Type != "node" {
			t.Fatalf("event %d is %q", i, ev.Type)
		}
	}
	if ev := <-ch; ev.Type != "lagged" || ev.DispatchID != "d" {
		t.Fatalf("last event %+v, want lagged", ev)
	}
}
