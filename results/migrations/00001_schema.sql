-- The schema of govalent before versioned migrations: a database made then is adopted at this version.

-- +goose Up
CREATE TABLE programs (hash TEXT PRIMARY KEY, source BLOB NOT NULL);
CREATE TABLE dispatches (
	id TEXT PRIMARY KEY, root_id TEXT NOT NULL, parent_id TEXT NOT NULL, parent_node INTEGER NOT NULL,
	name TEXT NOT NULL, status TEXT NOT NULL, created INTEGER NOT NULL, started INTEGER NOT NULL,
	ended INTEGER NOT NULL, error TEXT NOT NULL, inputs BLOB, result BLOB, program_hash TEXT NOT NULL,
	graph BLOB, notes TEXT NOT NULL, node_count INTEGER NOT NULL);
CREATE INDEX dispatches_created ON dispatches(created);
CREATE INDEX dispatches_status ON dispatches(status);
CREATE TABLE nodes (dispatch_id TEXT NOT NULL, node_id INTEGER NOT NULL, status TEXT NOT NULL, output BLOB,
	error TEXT NOT NULL, stack TEXT NOT NULL, stdout TEXT NOT NULL, stderr TEXT NOT NULL, started INTEGER NOT NULL,
	ended INTEGER NOT NULL, executor TEXT NOT NULL, sub_dispatch_id TEXT NOT NULL, attempts INTEGER NOT NULL,
	PRIMARY KEY (dispatch_id, node_id)) WITHOUT ROWID;

-- +goose Down
DROP TABLE nodes;
DROP TABLE dispatches;
DROP TABLE programs;
