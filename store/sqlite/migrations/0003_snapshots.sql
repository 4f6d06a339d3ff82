-- Snapshots of a log owner's state (spec/07-bulletin.md §7.7.1): at most
-- one per log, stored in parts; PutSnapshot replaces all of a log's parts
-- in one transaction. The owner authenticates and checks the bytes, so
-- these rows are neither append-only nor trusted.
CREATE TABLE bulletin_snapshots (
    log_id BLOB    NOT NULL CHECK (length(log_id) = 32),
    part   INTEGER NOT NULL CHECK (part >= 0),
    size   INTEGER NOT NULL CHECK (size >= 0),
    data   BLOB    NOT NULL,
    PRIMARY KEY (log_id, part)
) WITHOUT ROWID;
