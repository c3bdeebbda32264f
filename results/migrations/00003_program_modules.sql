-- A program that imports Go modules is built with the go.mod and go.sum it was shipped with: they are kept with
-- it, so that a dispatch resumed after a restart builds with the same versions (NULL: the standard library only).

-- +goose Up
ALTER TABLE programs ADD COLUMN modules BLOB;

-- +goose Down
ALTER TABLE programs DROP COLUMN modules;
