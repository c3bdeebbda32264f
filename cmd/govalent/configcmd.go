package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/BurntSushi/toml"
	"github.com/govalent/govalent/internal/credential"
)

const configUsage = "usage: govalent config [show] | config set KEY VALUE | config unset KEY   (KEY: port or data_dir or data-dir, ...)"

// cmdConfig shows the effective settings and where each came from, or changes one in the config file.
func cmdConfig(args []string) error {
	c, fs, err := parseClient("config", args, nil)
	if err != nil {
		return err
	}
	switch a := fs.Args(); {
	case len(a) == 0 || len(a) == 1 && a[0] == "show":
		return showConfig(c)
	case len(a) == 3 && a[0] == "set", len(a) == 2 && a[0] == "unset":
		return setConfig(c.file, a[1:])
	}
	return usageError(fs, configUsage)
}

// secret says how a setting is shown: hidden, with its URL's password hidden, or as it is.
var secret = map[string]func(string) string{
	"token":      func(string) string { return "(hidden)" },
	"redis-key":  func(string) string { return "(hidden)" },
	"redis":      credential.RedactURL,
	"dispatcher": credential.RedactURL,
}

func showConfig(c config) error {
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVALUE\tFROM")
	for _, f := range fields {
		v := c.value(tomlKey(f.flag))
		if hide := secret[f.flag]; hide != nil && v != "" {
			v = hide(v)
		}
		if v == "" || v == "0" {
			v = "-"
		}
		from := c.sources[f.flag]
		if from == "" {
			from = "default"
		} else if from == "file" {
			from = "file " + c.file
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", tomlKey(f.flag), v, from)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var names []string
	for n := range c.Executors {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) > 0 {
		fmt.Printf("executor settings in the file: [executors.%s]\n", strings.Join(names, "], [executors."))
	}
	switch _, err := os.Stat(c.file); {
	case c.file == "":
		fmt.Println("config file: none (no user config directory)")
	case err != nil:
		fmt.Printf("config file: %s (none yet; govalent config set KEY VALUE makes it)\n", c.file)
	default:
		fmt.Printf("config file: %s\n", c.file)
	}
	return nil
}

// value is the setting with the config file's key key, as text.
func (c config) value(key string) string {
	v := reflect.ValueOf(c)
	for i := range v.NumField() {
		if v.Type().Field(i).Tag.Get("toml") == key {
			return fmt.Sprint(v.Field(i).Interface())
		}
	}
	return ""
}

// setConfig sets (KEY VALUE) or removes (KEY) one key of the config file at path, keeping the others. The file
// is rewritten whole (comments do not survive) and readable by its owner only: it may hold the token.
func setConfig(path string, kv []string) error {
	if path == "" {
		return errors.New("no config file: give --config FILE")
	}
	key := tomlKey(kv[0])
	var fld *field
	for i := range fields {
		if tomlKey(fields[i].flag) == key {
			fld = &fields[i]
		}
	}
	if fld == nil {
		return fmt.Errorf("no setting %q; see govalent config", kv[0])
	}
	m := map[string]any{}
	if _, err := toml.DecodeFile(path, &m); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	if len(kv) == 1 {
		delete(m, key)
	} else {
		var probe config
		if err := fld.set(&probe, kv[1]); err != nil {
			return fmt.Errorf("%s %q: %w", key, kv[1], err)
		}
		m[key] = typedValue(&probe, key) // as TOML reads it back: a number or a boolean is not a string
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config-*.toml")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	err = toml.NewEncoder(tmp).Encode(m)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if len(kv) == 1 {
		fmt.Printf("removed %s from %s\n", key, path)
	} else {
		fmt.Printf("set %s in %s\n", key, path)
	}
	return nil
}

// isNumber reports whether the setting key is a number in the file.
// typedValue is the value of c's setting key (its toml tag).
func typedValue(c *config, key string) any {
	v := reflect.ValueOf(c).Elem()
	for i := range v.NumField() {
		if v.Type().Field(i).Tag.Get("toml") == key {
			return v.Field(i).Interface()
		}
	}
	return nil
}
