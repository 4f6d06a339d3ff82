-- Bulletin-board log entries and checkpoints (spec/07-bulletin.md §7.7).
-- Append-only: triggers refuse UPDATE, DELETE and TRUNCATE, whoever asks.
CREATE TABLE bulletin_entries (
    log_id bytea   NOT NULL CHECK (length(log_id) = 32),
    idx    bigint  NOT NULL CHECK (idx >= 0),
    hash   bytea   NOT NULL CHECK (length(hash) = 32),
    type   integer NOT NULL CHECK (type BETWEEN 0 AND 65535),
    data   bytea   NOT NULL,
    CONSTRAINT bulletin_entries_pkey PRIMARY KEY (log_id, idx),
    CONSTRAINT bulletin_entries_hash_key UNIQUE (hash)
);

CREATE TABLE bulletin_checkpoints (
    log_id     bytea       NOT NULL CHECK (length(log_id) = 32),
    size       bigint      NOT NULL CHECK (size >= 0),
    note       bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (log_id, size)
);

CREATE FUNCTION bulletin_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'evote: % on % refused: the bulletin board is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER bulletin_entries_append_only BEFORE UPDATE OR DELETE ON bulletin_entries
    FOR EACH ROW EXECUTE FUNCTION bulletin_append_only();
CREATE TRIGGER bulletin_entries_no_truncate BEFORE TRUNCATE ON bulletin_entries
    FOR EACH STATEMENT EXECUTE FUNCTION bulletin_append_only();
CREATE TRIGGER bulletin_checkpoints_append_only BEFORE UPDATE OR DELETE ON bulletin_checkpoints
    FOR EACH ROW EXECUTE FUNCTION bulletin_append_only();
CREATE TRIGGER bulletin_checkpoints_no_truncate BEFORE TRUNCATE ON bulletin_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION bulletin_append_only();

REVOKE UPDATE, DELETE, TRUNCATE ON bulletin_entries, bulletin_checkpoints FROM PUBLIC;
