-- Blind identity keys of each case's person (services/case/app/duplicates.py): HMAC-SHA256
-- (first 16 bytes) of folded names, sound keys, sex and birth date/year, under the person
-- index key. Without that key a row reveals nothing. Written in the transaction of the
-- profile's append; deleted with the case key on erasure.
CREATE TABLE {schema}.person_key (
    case_id text NOT NULL,
    kind    text NOT NULL,
    key     bytea NOT NULL,
    PRIMARY KEY (case_id, kind, key)
);
CREATE INDEX person_key_lookup ON {schema}.person_key (key, kind);

-- Possible duplicates found at intake or on a profile update (case_a < case_b), and what a
-- supervisor decided (from the SamePerson*/Duplicate* events, in the same transaction).
CREATE TABLE {schema}.duplicate_pair (
    case_a     text NOT NULL,
    case_b     text NOT NULL,
    score      real NOT NULL,
    status     text NOT NULL DEFAULT 'pending',  -- pending | linked | dismissed
    found_at   timestamptz NOT NULL,
    decided_at timestamptz,
    decided_by text,
    PRIMARY KEY (case_a, case_b),
    CHECK (case_a < case_b)
);
CREATE INDEX duplicate_pair_pending ON {schema}.duplicate_pair (status, found_at DESC);
CREATE INDEX duplicate_pair_b ON {schema}.duplicate_pair (case_b);
