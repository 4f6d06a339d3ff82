-- The ballot box's private ledger in deniable re-voting mode (spec
-- §15.16.5): accepted rows in acceptance order with their voter (never
-- published, never deleted or changed), and the plan of each slot, which
-- a slot planned again replaces.
CREATE TABLE ballotbox_revote_casts (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    log_id   BLOB    NOT NULL CHECK (length(log_id) = 32),
    row_hash BLOB    NOT NULL CHECK (length(row_hash) = 32),
    style    TEXT    NOT NULL,
    voter    BLOB    NOT NULL CHECK (length(voter) = 32),
    mark     INTEGER NOT NULL CHECK (mark IN (0, 1)),
    row      BLOB    NOT NULL,
    extra    BLOB    NOT NULL,
    UNIQUE (log_id, row_hash)
);
CREATE INDEX ballotbox_revote_casts_voter ON ballotbox_revote_casts (log_id, voter);

CREATE TRIGGER ballotbox_revote_casts_no_delete BEFORE DELETE ON ballotbox_revote_casts
BEGIN SELECT RAISE(ABORT, 'ballotbox_revote_casts keeps every accepted row'); END;
CREATE TRIGGER ballotbox_revote_casts_no_update BEFORE UPDATE ON ballotbox_revote_casts
BEGIN SELECT RAISE(ABORT, 'ballotbox_revote_casts rows never change'); END;

CREATE TABLE ballotbox_revote_plans (
    log_id BLOB    NOT NULL CHECK (length(log_id) = 32),
    style  TEXT    NOT NULL,
    slot   INTEGER NOT NULL,
    plan   BLOB    NOT NULL,
    PRIMARY KEY (log_id, style, slot)
) WITHOUT ROWID;
