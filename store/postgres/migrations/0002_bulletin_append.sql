-- One-round-trip durable append (spec/07-bulletin.md §7.7): the whole
-- append runs as one statement, hence in one implicit transaction, so a
-- group commit costs one network round trip and one WAL flush.
CREATE FUNCTION bulletin_append(
    p_log_id  bytea,
    p_first   bigint,
    p_hashes  bytea[],
    p_types   integer[],
    p_data    bytea[],
    p_channel text
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    cur bigint;
    n   bigint := coalesce(array_length(p_hashes, 1), 0);
BEGIN
    -- Durable acknowledgement whatever the server's default.
    PERFORM set_config('synchronous_commit', 'on', true);
    PERFORM pg_advisory_xact_lock(('x' || substr(encode(p_log_id, 'hex'), 1, 16))::bit(64)::bigint);
    SELECT coalesce(max(idx) + 1, 0) INTO cur FROM bulletin_entries WHERE log_id = p_log_id;
    IF cur <> p_first THEN
        RAISE EXCEPTION 'bulletin: log has % entries, append at %', cur, p_first USING ERRCODE = 'EV001';
    END IF;
    INSERT INTO bulletin_entries (log_id, idx, hash, type, data)
        SELECT p_log_id, p_first + u.ord - 1, u.h, u.t, u.d
        FROM unnest(p_hashes, p_types, p_data) WITH ORDINALITY AS u(h, t, d, ord);
    PERFORM pg_notify(p_channel, encode(p_log_id, 'hex') || ' ' || (p_first + n)::text);
    RETURN p_first + n;
END
$$;
