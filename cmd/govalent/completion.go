package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"text/template"
	"time"
)

// subcommands are the words that come right after these commands.
var subcommands = map[string][]string{
	"service":    {"install", "uninstall"},
	"config":     {"show", "set", "unset"},
	"kernel":     {"install", "uninstall"},
	"completion": {"bash", "zsh", "fish"},
}

type completed struct {
	Name, Summary string
	Flags, Subs   []string // flags without their dashes
}

// flagLine is a flag in flag.PrintDefaults' output.
var flagLine = regexp.MustCompile(`(?m)^  -([A-Za-z0-9][A-Za-z0-9_-]*)`)

// completions reads each command's flags from its own -h, so that the scripts follow the flag sets as they
// are, without a second list of them to keep.
func completions() ([]completed, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var out []completed
	for name, c := range commands {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		help, _ := exec.CommandContext(ctx, exe, name, "-h").CombinedOutput() // -h exits 0
		timedOut := ctx.Err() != nil
		cancel()
		if timedOut {
			return nil, fmt.Errorf("%s -h did not answer", name)
		}
		cc := completed{Name: name, Summary: c.summary, Subs: subcommands[name]}
		for _, m := range flagLine.FindAllStringSubmatch(string(help), -1) {
			cc.Flags = append(cc.Flags, m[1])
		}
		out = append(out, cc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func cmdCompletion(args []string) error {
	const use = "usage: govalent completion bash|zsh|fish   (prints the script; see the README for where it goes)"
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
		fmt.Println(use)
		return nil
	}
	if len(args) != 1 || completionScripts[args[0]] == nil {
		return usageError(nil, use)
	}
	cmds, err := completions()
	if err != nil {
		return err
	}
	return completionScripts[args[0]].Execute(os.Stdout, cmds)
}

var completionFuncs = template.FuncMap{
	"join": strings.Join,
	"sq":   func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" },
	"dashed": func(flags []string) string {
		if len(flags) == 0 {
			return ""
		}
		return "--" + strings.Join(flags, " --")
	},
}

var completionScripts = map[string]*template.Template{
	"bash": template.Must(template.New("bash").Funcs(completionFuncs).Parse(`# bash completion for govalent: source it from ~/.bashrc, or save it as
# ~/.local/share/bash-completion/completions/govalent.
_govalent() {
	local cur=${COMP_WORDS[COMP_CWORD]} words=
	if [ "$COMP_CWORD" -eq 1 ]; then
		words="{{range $i, $c := .}}{{if $i}} {{end}}{{$c.Name}}{{end}}"
	elif [[ $cur == -* ]]; then
		case ${COMP_WORDS[1]} in
{{- range .}}
		{{.Name}}) words="{{dashed .Flags}}" ;;
{{- end}}
		esac
	elif [ "$COMP_CWORD" -eq 2 ]; then
		case ${COMP_WORDS[1]} in
{{- range .}}{{if .Subs}}
		{{.Name}}) words="{{join .Subs " "}}" ;;
{{- end}}{{end}}
		esac
	fi
	COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _govalent govalent
`)),
	"zsh": template.Must(template.New("zsh").Funcs(completionFuncs).Parse(`#compdef govalent
# zsh completion for govalent: save it as _govalent in a directory of $fpath, or source it.
_govalent() {
	if (( CURRENT == 2 )); then
		local -a cmds
		cmds=({{range .}}
			{{sq (printf "%s:%s" .Name .Summary)}}{{end}}
		)
		_describe command cmds
		return
	fi
	if [[ $PREFIX == -* ]]; then
		case $words[2] in
{{- range .}}
		{{.Name}}) compadd -- {{dashed .Flags}} ;;
{{- end}}
		esac
		return
	fi
	case $CURRENT:$words[2] in
{{- range .}}{{if .Subs}}
	3:{{.Name}}) compadd -- {{join .Subs " "}} ;;
{{- end}}{{end}}
	*) _files ;;
	esac
}
if [[ $funcstack[1] == _govalent ]]; then
	_govalent "$@"
else
	compdef _govalent govalent
fi
`)),
	"fish": template.Must(template.New("fish").Funcs(completionFuncs).Parse(`# fish completion for govalent: save it as ~/.config/fish/completions/govalent.fish.
{{- range .}}
complete -c govalent -n __fish_use_subcommand -f -a {{.Name}} -d {{sq .Summary}}
{{- $name := .Name}}
{{- range .Subs}}
complete -c govalent -n '__fish_seen_subcommand_from {{$name}}' -f -a {{.}}
{{- end}}
{{- range .Flags}}
complete -c govalent -n '__fish_seen_subcommand_from {{$name}}' -l {{.}}
{{- end}}
{{- end}}
`)),
}
