-- Each policy version's resolved settings stored once, instead of on every clock row: a running
-- clock finds the policy it started with through clocks.policy_version.

CREATE TABLE policy_snapshots (
    version        text PRIMARY KEY,
    name           text NOT NULL,
    snapshot       jsonb NOT NULL,
    first_used_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO policy_snapshots (version, name, snapshot)
SELECT DISTINCT ON (policy_version) policy_version, policy, policy_snapshot
FROM clocks WHERE policy_snapshot IS NOT NULL
ORDER BY policy_version
ON CONFLICT (version) DO NOTHING;

UPDATE clocks SET policy_snapshot = NULL WHERE policy_snapshot IS NOT NULL;
COMMENT ON COLUMN clocks.policy_snapshot IS 'unused since migration 004: see policy_snapshots';
