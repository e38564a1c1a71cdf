-- Tamper evidence for the store as a whole: every event becomes a leaf of an RFC 6962
-- Merkle tree in global order; signed checkpoints of the tree are published to a
-- JetStream stream that refuses deletion. The signing key is never in the database.
CREATE TABLE {schema}.merkle_leaf (
    leaf_index bigint PRIMARY KEY,
    event_id uuid NOT NULL UNIQUE,
    leaf_hash bytea NOT NULL
);

CREATE TABLE {schema}.merkle_checkpoint (
    tree_size bigint PRIMARY KEY,
    root bytea NOT NULL,
    -- Roots of the perfect subtrees covering the leaves, left to right: the next
    -- checkpoint extends them without rereading every leaf.
    frontier jsonb NOT NULL,
    body jsonb NOT NULL,
    signature bytea NOT NULL,
    sealed_at timestamptz NOT NULL DEFAULT now()
);
