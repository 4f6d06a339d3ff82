-- Benaloh audits accepted by one instance and casts made by another
-- (spec/07-bulletin.md §7.7.2, spec/09-election.md §9.4): an instance
-- adds an audit to the pool only while it holds the log's barrier, with
-- its view of the board and of the pool brought up to the store's; an
-- append of ballots names the number of audits the pool held when its
-- ballots were checked (the fence), and commits only if the pool still
-- holds exactly that many. Audits are never deleted, so the count grows
-- with every audit accepted: a ballot checked before an audit was
-- accepted is refused (EV002) and checked again against it. The count is
-- read after the barrier is taken shared, so an audit being added (under
-- the barrier, exclusively) has committed before it is counted.
CREATE FUNCTION bulletin_append_fenced(
    p_log_id  bytea,
    p_first   bigint,
    p_hashes  bytea[],
    p_types   integer[],
    p_data    bytea[],
    p_channel text,
    p_audits  bigint,
    p_holding boolean
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    IF NOT p_holding THEN
        PERFORM pg_advisory_xact_lock_shared(
            ('x' || substr(encode(p_log_id, 'hex'), 1, 8))::bit(32)::integer,
            ('x' || substr(encode(p_log_id, 'hex'), 9, 8))::bit(32)::integer);
    END IF;
    SELECT count(*) INTO n FROM ballotbox_audits WHERE log_id = p_log_id;
    IF n <> p_audits THEN
        RAISE EXCEPTION 'evote: the audit pool holds % audits, the append was checked against %', n, p_audits USING ERRCODE = 'EV002';
    END IF;
    RETURN bulletin_append_holding(p_log_id, p_first, p_hashes, p_types, p_data, p_channel);
END
$$;
