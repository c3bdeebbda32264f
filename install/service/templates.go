package service

import (
	"encoding/xml"
	"strings"
	"text/template"
)

// The system units keep their settings in /etc/govalent (%E) and their data and token in /var/lib/govalent
// (%S, made by StateDirectory= for the service's user only). XDG_DATA_HOME sets the data directory's default,
// which the config file may still change; environment variables would override the file.
var dispatcherUnit = template.Must(template.New("dispatcher").Parse(`# Written by govalent service install; govalent service uninstall removes it.
[Unit]
Description=govalent workflow dispatcher
Documentation=https://github.com/govalent/govalent
{{- if .System}}
Wants=network-online.target
After=network-online.target
{{- end}}

[Service]
Type=exec
ExecStart={{.Exec}} start --foreground
Environment=GOVALENT_SERVICE=%n
{{- if .System}}
Environment=GOVALENT_CONFIG=%E/govalent/config.toml
Environment=XDG_DATA_HOME=%S
Environment=GOVALENT_TOKEN_FILE=%S/govalent/token
ConfigurationDirectory=govalent
StateDirectory=govalent
StateDirectoryMode=0700
{{- end}}
{{- template "account" .}}
Restart=on-failure
RestartSec=5s
# SIGTERM to the dispatcher alone, which stops its worker processes itself.
KillMode=mixed
TimeoutStopSec=30s

[Install]
WantedBy={{if .System}}multi-user.target{{else}}default.target{{end}}
`))

// The workers' template unit: govalent-worker@QUEUE.service serves the queue QUEUE. The Redis URL comes from
// worker.env beside the config file, readable by its owner only. A system worker gets the Redis key as a
// systemd credential from /etc/govalent/redis.key (a copy of the dispatcher's); a user's worker reads
// ~/.local/share/govalent/redis.key, where a dispatcher of the same user keeps it.
var workerUnit = template.Must(template.New("worker").Parse(`# Written by govalent service install --worker; govalent service uninstall removes it.
[Unit]
Description=govalent worker serving queue %i
Documentation=https://github.com/govalent/govalent
{{- if .System}}
Wants=network-online.target
After=network-online.target
{{- end}}

[Service]
Type=exec
ExecStart={{.Exec}} worker --queue %i
Environment=GOVALENT_SERVICE=%n
EnvironmentFile=%E/govalent/worker.env
{{- if .System}}
LoadCredential=redis.key:%E/govalent/redis.key
Environment=GOVALENT_REDIS_KEY_FILE=%d/redis.key
Environment=GOVALENT_CONFIG=%E/govalent/config.toml
{{- end}}
{{- template "account" .}}
Restart=on-failure
RestartSec=5s
# SIGTERM to the worker alone: it finishes or hands back its tasks, then stops their processes.
KillMode=mixed
TimeoutStopSec=60s

[Install]
WantedBy={{if .System}}multi-user.target{{else}}default.target{{end}}
`))

func init() {
	template.Must(dispatcherUnit.New("account").Parse(account))
	template.Must(workerUnit.New("account").Parse(account))
}

// account is who a system service runs as: a dynamic user, which can touch nothing of anyone's but its own
// directories, unless the installer named an account.
const account = `{{if .System}}
{{- if .RunAs}}
User={{.RunAs}}
{{- else}}
DynamicUser=yes
{{- end}}
NoNewPrivileges=yes
{{- end}}`

var launchdPlist = template.Must(template.New("plist").Funcs(template.FuncMap{"x": xmlText}).Parse(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Written by govalent service install; govalent service uninstall removes it. -->
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>{{x .Label}}</string>
	<key>ProgramArguments</key>
	<array>
{{- range .Args}}
		<string>{{x .}}</string>
{{- end}}
	</array>
	<key>EnvironmentVariables</key>
	<dict>
{{- range $k, $v := .Env}}
		<key>{{x $k}}</key>
		<string>{{x $v}}</string>
{{- end}}
	</dict>
{{- if .RunAs}}
	<key>UserName</key>
	<string>{{x .RunAs}}</string>
{{- end}}
	<key>RunAtLoad</key>
	<true/>
	<key>KeepAlive</key>
	<dict>
		<key>SuccessfulExit</key>
		<false/>
	</dict>
	<key>StandardOutPath</key>
	<string>{{x .Log}}</string>
	<key>StandardErrorPath</key>
	<string>{{x .Log}}</string>
</dict>
</plist>
`))

func xmlText(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
