-- Bulletin-board log entries and checkpoints (spec/07-bulletin.md §7.7).
-- Append-only: triggers refuse every UPDATE and DELETE.
CREATE TABLE bulletin_entries (
    log_id BLOB    NOT NULL CHECK (length(log_id) = 32),
    idx    INTEGER NOT NULL CHECK (idx >= 0),
    hash   BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
    type   INTEGER NOT NULL CHECK (type BETWEEN 0 AND 65535),
    data   BLOB    NOT NULL,
    PRIMARY KEY (log_id, idx)
);

CREATE TABLE bulletin_checkpoints (
    log_id BLOB    NOT NULL CHECK (length(log_id) = 32),
    size   INTEGER NOT NULL CHECK (size >= 0),
    note   BLOB    NOT NULL,
    PRIMARY KEY (log_id, size)
) WITHOUT ROWID;

CREATE TRIGGER bulletin_entries_no_update BEFORE UPDATE ON bulletin_entries
BEGIN SELECT RAISE(ABORT, 'bulletin_entries is append-only'); END;
CREATE TRIGGER bulletin_entries_no_delete BEFORE DELETE ON bulletin_entries
BEGIN SELECT RAISE(ABORT, 'bulletin_entries is append-only'); END;
CREATE TRIGGER bulletin_checkpoints_no_update BEFORE UPDATE ON bulletin_checkpoints
BEGIN SELECT RAISE(ABORT, 'bulletin_checkpoints is append-only'); END;
CREATE TRIGGER bulletin_checkpoints_no_delete BEFORE DELETE ON bulletin_checkpoints
BEGIN SELECT RAISE(ABORT, 'bulletin_checkpoints is append-only'); END;
