package plugin

import (
	"fmt"
	"log/slog"
	"maps"

	"github.com/govalent/govalent/executors"
)

// PathSetting is the key of an [executors.NAME] table that makes NAME a plugin: the plugin program's path (or
// a name found on PATH).
const PathSetting = "plugin"

// FromSettings starts the plugin executor that table (an [executors.NAME] table of the config file) declares:
// ok is false when the table has no "plugin" key, and the executor is not a plugin. The table's other keys
// are the plugin's settings.
func FromSettings(name string, table map[string]any, log *slog.Logger) (ex executors.Executor, ok bool, err error) {
	v, declared := table[PathSetting]
	if !declared {
		return nil, false, nil
	}
	path, isString := v.(string)
	if !isString || path == "" {
		return nil, true, fmt.Errorf("executor %s: %s must be the path of the plugin program, not %v", name, PathSetting, v)
	}
	settings := maps.Clone(table)
	delete(settings, PathSetting)
	ex, err = New(name, path, settings, log)
	return ex, true, err
}
