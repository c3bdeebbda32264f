package executors

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"

	"github.com/dustin/go-humanize"
	"github.com/govalent/govalent/ct/wire"
)

// Settings are an executor's configured settings (its [executors.NAME] table), under which each electron's
// own (ct.With, Task.Settings) are laid.
type Settings struct {
	defaults map[string]json.RawMessage
}

// NewSettings encodes an executor's configured settings.
func NewSettings(name string, defaults map[string]any) (Settings, error) {
	s := Settings{defaults: make(map[string]json.RawMessage, len(defaults))}
	for k, v := range defaults {
		raw, err := json.Marshal(v)
		if err != nil {
			return s, fmt.Errorf("executor %s setting %s: %w", name, k, err)
		}
		s.defaults[k] = raw
	}
	return s, nil
}

// Merge lays a task's settings over the configured ones. File transfers are left out: the worker that runs
// the electron moves the files, not the executor.
func (s Settings) Merge(own map[string]json.RawMessage) []byte {
	m := make(map[string]json.RawMessage, len(s.defaults)+len(own))
	for k, v := range s.defaults {
		m[k] = v
	}
	for k, v := range own {
		m[k] = v
	}
	delete(m, wire.FilesSetting)
	b, _ := json.Marshal(m) // RawMessages from json.Marshal and from the engine are valid JSON
	return b
}

// DecodeSettings decodes executor name's merged settings into v, refusing unknown keys, so that a misspelt
// setting is an error rather than silently ignored.
func DecodeSettings(name string, merged []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(merged))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("executor %s settings: %w", name, err)
	}
	return nil
}

// SizeSetting reads a size from a configuration table: a positive number of bytes, or a string such as
// "4GiB" or "512 MB"; def if v is nil (the setting is absent).
func SizeSetting(v any, def int64) (int64, error) {
	if n, ok := IntSetting(v); ok && n > 0 {
		return n, nil
	}
	switch v := v.(type) {
	case nil:
		return def, nil
	case string:
		n, err := humanize.ParseBytes(v)
		if err != nil {
			return 0, err
		}
		if n > 0 && n <= math.MaxInt64 {
			return int64(n), nil
		}
	}
	return 0, fmt.Errorf("want a positive size (bytes, or a string such as \"4GiB\"), not %v", v)
}

// IntSetting reads a whole number from a configuration table: int64 from the config file, int from Go code.
func IntSetting(v any) (int64, bool) {
	switch v := v.(type) {
	case int64:
		return v, true
	case int:
		return int64(v), true
	}
	return 0, false
}
