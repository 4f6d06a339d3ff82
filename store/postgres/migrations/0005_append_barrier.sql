-- Several ballot-box instances on one database (spec/07-bulletin.md
-- §7.7.2): an instance posting an entry whose check needs the whole board
-- (an official's action, a trustee's entry) holds the log's barrier, a
-- session advisory lock in the two-key space (apart from the per-log
-- append lock's one-key space), exclusively. Every append takes the
-- barrier shared first, before the log's append lock, so the appends of
-- other instances wait while it is held; the holder's own appends call
-- bulletin_append_holding directly.
ALTER FUNCTION bulletin_append(bytea, bigint, bytea[], integer[], bytea[], text) RENAME TO bulletin_append_holding;

CREATE FUNCTION bulletin_append(
    p_log_id  bytea,
    p_first   bigint,
    p_hashes  bytea[],
    p_types   integer[],
    p_data    bytea[],
    p_channel text
) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(
        ('x' || substr(encode(p_log_id, 'hex'), 1, 8))::bit(32)::integer,
        ('x' || substr(encode(p_log_id, 'hex'), 9, 8))::bit(32)::integer);
    RETURN bulletin_append_holding(p_log_id, p_first, p_hashes, p_types, p_data, p_channel);
END
$$;
