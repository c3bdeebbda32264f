-- /metrics counts the top-level dispatches by status at every scrape: from this index alone, rather than by
-- reading every dispatch row (the dashboard's summary reads only the top-level rows through it too).

-- +goose Up
CREATE INDEX dispatches_parent_status ON dispatches(parent_id, status);

-- +goose Down
DROP INDEX dispatches_parent_status;
