package awsbatch

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/batch/types"
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

// A job definition of the user's keeps its vCPU and memory unless the electron sets them; one govalent
// registers gets defaults.
func TestResourceOverrides(t *testing.T) {
	show := func(rs []types.ResourceRequirement) string {
		var parts []string
		for _, r := range rs {
			parts = append(parts, string(r.Type)+"="+*r.Value)
		}
		return strings.Join(parts, " ")
	}
	for _, c := range []struct {
		s        Settings
		register bool
		want     string
	}{
		{Settings{}, false, ""},
		{Settings{VCPU: 2}, false, "VCPU=2"},
		{Settings{Memory: 512}, false, "MEMORY=512"},
		{Settings{}, true, "VCPU=1 MEMORY=2048"},
		{Settings{VCPU: 0.5, Memory: 4096}, true, "VCPU=0.5 MEMORY=4096"},
	} {
		if got := show(resources(&c.s, c.register)); got != c.want {
			t.Errorf("%+v register=%v: %q, want %q", c.s, c.register, got, c.want)
		}
	}
}
