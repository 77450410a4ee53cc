-- Caps per person, not per unit (issue 18, rule 12): one person is one party in a community,
-- whatever number of units they own or rent. A party is matched by its verified phone: a
-- mainland mobile (real-name registered), normalised to its 11 digits. Landlines are shared by
-- a household and never match. This function is the one home of the normalisation; the
-- generated column keeps every party's key whoever writes the phone (ledger import, HTTP).
CREATE FUNCTION billing_person_key(phone text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURNS NULL ON NULL INPUT AS $$
    SELECT CASE WHEN d ~ '^1[3-9][0-9]{9}$' THEN 'mobile:' || d END
    FROM (SELECT regexp_replace(regexp_replace(phone, '[\s()-]', '', 'g'),
                                '^(\+86|0086|86)(?=1[3-9][0-9]{9}$)', '') AS d) x
$$;

ALTER TABLE parties
    ADD COLUMN person_key text GENERATED ALWAYS AS (billing_person_key(phone)) STORED;

-- Not unique: parties created per unit before this migration may share a key; new parties
-- are matched to the oldest party of the key (service_layer/registry.py, match_person).
CREATE INDEX parties_by_person ON parties (community_id, person_key, created_at, party_id)
    WHERE person_key IS NOT NULL;
