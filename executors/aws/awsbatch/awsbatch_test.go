package awsbatch

import (
	"strings"
	"testing"
)

// A config table with a mistake stops the dispatcher at start, naming the mistake; a required setting left
// out may still come from the electron.
func TestSettingsAreChecked(t *testing.T) {
	for _, c := range []struct {
		table map[string]any
		want  string
	}{
		{map[string]any{"s3": "s3://b/p", "vcpus": 2}, `unknown field "vcpus"`},
		{map[string]any{"s3": "ftp://b/p"}, "not an s3:// URL"},
		{map[string]any{"s3": "s3://b/p", "poll": "soon"}, "invalid duration"},
		{map[string]any{"s3": "s3://b/p", "memory": "lots"}, "memory"},
		{map[string]any{"job_queue": "q"}, ""},
		{nil, ""},
	} {
		e, err := New("awsbatch", c.table, nil)
		if c.want == "" {
			if err != nil {
				t.Errorf("%v: %v", c.table, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error with %q", c.table, err, c.want)
		}
		if e != nil {
			e.Close()
		}
	}
}
