package plugin

import (
	"net/rpc"

	goplugin "github.com/hashicorp/go-plugin"
)

// ProtocolVersion is the version of the messages between the dispatcher and a plugin. It changes when they
// change incompatibly; a plugin built against another version is refused at start, with both versions named.
const ProtocolVersion = 1

// Handshake is what the dispatcher and a plugin check before they talk: the magic cookie tells a plugin that
// a dispatcher started it (run by hand, it says it is a plugin and exits), and ProtocolVersion that they speak
// the same messages.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "GOVALENT_EXECUTOR_PLUGIN",
	MagicCookieValue: "a8e3f1c2-6b7d-4e59-9c0a-executor",
}

// pluginName is the one plugin a plugin binary serves, as go-plugin dispenses it.
const pluginName = "executor"

// The messages. Tasks and outcomes travel as JSON, the encoding their types define (tags, custom marshalers)
// and that carries them between the dispatcher and its worker processes and remote workers already. The
// argument types are aliases of unnamed structs because net/rpc serves only methods whose argument types are
// exported or unnamed, and these are no plugin author's business.

// startArgs configure the executor a plugin serves.
type startArgs = struct {
	Name     string
	Settings []byte // the [executors.NAME] table without "plugin", as a JSON object
}

// startReply says what the plugin's executor can do beyond executors.Executor.
type startReply = struct {
	Native    bool     // it is an executors.NativeRunner
	Platforms []string // its NativePlatforms
	Adopter   bool     // it is an executors.Adopter
}

// submitArgs are tasks for the plugin's executor, in order; each program's source comes once per batch.
type submitArgs = struct {
	Programs map[string]string // by ProgramHash
	Tasks    []sentTask
}

type sentTask struct {
	Task  []byte // executors.Task as JSON, without its Program
	Adopt bool   // hand it to Adopt rather than Submit
}

// finished is a task's outcome.
type finished struct {
	TaskID  string
	Outcome []byte // executors.Outcome as JSON
}

// rpcPlugin is the go-plugin glue: the plugin side serves a *server, the dispatcher side calls it through an
// *rpc.Client.
type rpcPlugin struct {
	serve *server // set on the plugin side only
}

func (p *rpcPlugin) Server(*goplugin.MuxBroker) (any, error) { return p.serve, nil }

func (p *rpcPlugin) Client(_ *goplugin.MuxBroker, c *rpc.Client) (any, error) { return c, nil }

// pluginSet is what both sides register under pluginName.
func pluginSet(s *server) goplugin.PluginSet {
	return goplugin.PluginSet{pluginName: &rpcPlugin{serve: s}}
}
