// Command otherprotocol is a plugin built for another version of the executor plugin protocol than this
// dispatcher speaks, for the tests of package plugin.
package main

import (
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/govalent/govalent/executors/plugin"
)

func main() {
	handshake := plugin.Handshake
	handshake.ProtocolVersion = plugin.ProtocolVersion + 1
	goplugin.Serve(&goplugin.ServeConfig{HandshakeConfig: handshake})
}
