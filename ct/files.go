package ct

import (
	"encoding/json"
	"os"

	"github.com/govalent/govalent/ct/wire"
)

// Transfer is one file an electron's worker moves: from a local path, s3://bucket/key or http(s):// URL to
// another (at most one side remote), before the electron runs (the default) or after it succeeds.
type Transfer struct {
	From  string        `json:"from"`
	To    string        `json:"to"`
	Order TransferOrder `json:"order,omitempty"`
}

// TransferOrder says when a transfer runs.
type TransferOrder string

const (
	// TransferBefore runs the transfer on the worker before the electron: inputs arrive.
	TransferBefore TransferOrder = "before"
	// TransferAfter runs it after the electron succeeded: outputs leave.
	TransferAfter TransferOrder = "after"
)

// FilesSetting is the executor setting (ct.With key) that carries an electron's transfers to its worker.
const FilesSetting = wire.FilesSetting

// FilesEnv is the environment variable through which the worker tells the electron (and the processes it
// starts) which local files arrived, as a JSON array of paths; ArrivedFiles reads it.
const FilesEnv = "GOVALENT_FILES"

// FileTransfer describes a transfer, Covalent-style: ct.FileTransfer("s3://bucket/in.csv", "data/in.csv") runs
// before the electron; pass ct.TransferAfter to upload a result it wrote. Local paths are relative to the
// worker's working directory and may not leave it (no "..", no symlinks out, no absolute paths unless the
// worker's operator allows their directory); http(s) may not reach loopback, private or link-local addresses
// unless the operator allows them (see package executors/filetransfer).
func FileTransfer(from, to string, order ...TransferOrder) Transfer {
	t := Transfer{From: from, To: to, Order: TransferBefore}
	if len(order) > 0 {
		t.Order = order[len(order)-1]
	}
	return t
}

// Files attaches file transfers to an electron; they run on the worker that runs it. A failed transfer fails
// the node with an error naming it.
func Files(ts ...Transfer) Option {
	return func(o *options) {
		if o.settings == nil {
			o.settings = map[string]any{}
		}
		prev, _ := o.settings[FilesSetting].([]Transfer)
		o.settings[FilesSetting] = append(prev, ts...)
	}
}

// ArrivedFiles returns, inside an electron, the local paths its before-transfers wrote, in order.
func ArrivedFiles() []string {
	var paths []string
	json.Unmarshal([]byte(os.Getenv(FilesEnv)), &paths)
	return paths
}
