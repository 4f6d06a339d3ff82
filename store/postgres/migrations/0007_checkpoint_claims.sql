-- One checkpoint per size, even when an instance loses its connection
-- between signing and storing (spec/07-bulletin.md §7.7): before the
-- log's key signs a checkpoint, the body it will sign (origin, size, root,
-- time) is claimed here, durably; whoever signs at that size later, in
-- any instance, signs the claimed body, so every note the key makes at
-- one size is of the same checkpoint. Rows are never updated or deleted.
CREATE TABLE bulletin_checkpoint_claims (
    log_id bytea  NOT NULL CHECK (length(log_id) = 32),
    size   bigint NOT NULL CHECK (size >= 0),
    body   bytea  NOT NULL,
    CONSTRAINT bulletin_checkpoint_claims_pkey PRIMARY KEY (log_id, size)
);

CREATE FUNCTION bulletin_checkpoint_claims_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'evote: % on % refused: claims are never changed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER bulletin_checkpoint_claims_guard BEFORE UPDATE OR DELETE ON bulletin_checkpoint_claims
    FOR EACH ROW EXECUTE FUNCTION bulletin_checkpoint_claims_guard();
CREATE TRIGGER bulletin_checkpoint_claims_no_truncate BEFORE TRUNCATE ON bulletin_checkpoint_claims
    FOR EACH STATEMENT EXECUTE FUNCTION bulletin_checkpoint_claims_guard();

REVOKE UPDATE, DELETE, TRUNCATE ON bulletin_checkpoint_claims FROM PUBLIC;
