-- The ballot box's pool of accepted Benaloh audits (spec/09-election.md
-- §9.4, spec/07-bulletin.md §7.7): kept until a shuffled batch publishes
-- them, then kept for lookups by tracking code. No column records when an
-- audit arrived. Rows are never deleted or truncated; the only change is
-- published going from false to true.
CREATE TABLE ballotbox_audits (
    log_id     bytea   NOT NULL CHECK (length(log_id) = 32),
    code       bytea   NOT NULL CHECK (length(code) = 32),
    entry_hash bytea   NOT NULL CHECK (length(entry_hash) = 32),
    entry      bytea   NOT NULL,
    ballot     bytea   NOT NULL,
    published  boolean NOT NULL DEFAULT false,
    CONSTRAINT ballotbox_audits_pkey PRIMARY KEY (log_id, code),
    CONSTRAINT ballotbox_audits_entry_hash_key UNIQUE (entry_hash)
);

CREATE FUNCTION ballotbox_audits_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.log_id = OLD.log_id AND NEW.code = OLD.code
        AND NEW.entry_hash = OLD.entry_hash AND NEW.entry = OLD.entry AND NEW.ballot = OLD.ballot
        AND (NEW.published OR NOT OLD.published) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'evote: % on % refused: only published may change, from false to true', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER ballotbox_audits_guard BEFORE UPDATE OR DELETE ON ballotbox_audits
    FOR EACH ROW EXECUTE FUNCTION ballotbox_audits_guard();
CREATE TRIGGER ballotbox_audits_no_truncate BEFORE TRUNCATE ON ballotbox_audits
    FOR EACH STATEMENT EXECUTE FUNCTION ballotbox_audits_guard();

REVOKE DELETE, TRUNCATE ON ballotbox_audits FROM PUBLIC;
