-- The ballot box's pool of accepted Benaloh audits (spec/09-election.md
-- §9.4, spec/07-bulletin.md §7.7): kept until a shuffled batch publishes
-- them, then kept for lookups by tracking code. No column records when an
-- audit arrived (WITHOUT ROWID: no insertion counter either). Rows are
-- never deleted; the only change is published going from 0 to 1.
CREATE TABLE ballotbox_audits (
    log_id     BLOB    NOT NULL CHECK (length(log_id) = 32),
    code       BLOB    NOT NULL CHECK (length(code) = 32),
    entry_hash BLOB    NOT NULL UNIQUE CHECK (length(entry_hash) = 32),
    entry      BLOB    NOT NULL,
    ballot     BLOB    NOT NULL,
    published  INTEGER NOT NULL DEFAULT 0 CHECK (published IN (0, 1)),
    PRIMARY KEY (log_id, code)
) WITHOUT ROWID;

CREATE TRIGGER ballotbox_audits_no_delete BEFORE DELETE ON ballotbox_audits
BEGIN SELECT RAISE(ABORT, 'ballotbox_audits keeps every accepted audit'); END;
CREATE TRIGGER ballotbox_audits_publish_only BEFORE UPDATE ON ballotbox_audits
WHEN NEW.log_id IS NOT OLD.log_id OR NEW.code IS NOT OLD.code OR NEW.entry_hash IS NOT OLD.entry_hash
    OR NEW.entry IS NOT OLD.entry OR NEW.ballot IS NOT OLD.ballot OR NEW.published < OLD.published
BEGIN SELECT RAISE(ABORT, 'ballotbox_audits: only published may change, from 0 to 1'); END;
