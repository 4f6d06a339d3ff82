-- The ballot box's private ledger in deniable re-voting mode (spec
-- §15.16.5): accepted rows in acceptance order with their voter (never
-- published, never deleted or changed), and the plan of each slot, which
-- a slot planned again replaces.
CREATE TABLE ballotbox_revote_casts (
    seq      bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    log_id   bytea   NOT NULL CHECK (length(log_id) = 32),
    row_hash bytea   NOT NULL CHECK (length(row_hash) = 32),
    style    text    NOT NULL,
    voter    bytea   NOT NULL CHECK (length(voter) = 32),
    mark     boolean NOT NULL,
    row      bytea   NOT NULL,
    extra    bytea   NOT NULL,
    CONSTRAINT ballotbox_revote_casts_row_key UNIQUE (log_id, row_hash)
);
CREATE INDEX ballotbox_revote_casts_voter ON ballotbox_revote_casts (log_id, voter);

CREATE FUNCTION ballotbox_revote_casts_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'evote: % on % refused: accepted rows never change', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER ballotbox_revote_casts_guard BEFORE UPDATE OR DELETE ON ballotbox_revote_casts
    FOR EACH ROW EXECUTE FUNCTION ballotbox_revote_casts_guard();
CREATE TRIGGER ballotbox_revote_casts_no_truncate BEFORE TRUNCATE ON ballotbox_revote_casts
    FOR EACH STATEMENT EXECUTE FUNCTION ballotbox_revote_casts_guard();
REVOKE DELETE, TRUNCATE ON ballotbox_revote_casts FROM PUBLIC;

CREATE TABLE ballotbox_revote_plans (
    log_id bytea  NOT NULL CHECK (length(log_id) = 32),
    style  text   NOT NULL,
    slot   bigint NOT NULL,
    plan   bytea  NOT NULL,
    PRIMARY KEY (log_id, style, slot)
);
