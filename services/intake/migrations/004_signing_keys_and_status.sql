-- Partners sign the Kafka records they publish (services.common.signing): each client may hold a
-- signing key, and during a rotation's grace period its previous one. Stored as they are, not under the
-- vault key: the tracker verifies lifecycle events with them and must not hold the key to personal
-- data; whoever can read this table can also write it (and so register a partner of their own), and
-- forging a record needs Kafka credentials too. See README "Partners' signatures".
ALTER TABLE clients ADD COLUMN signing_key text;
ALTER TABLE clients ADD COLUMN signing_key_created_at timestamptz;
ALTER TABLE clients ADD COLUMN previous_signing_key text;
ALTER TABLE clients ADD COLUMN previous_signing_key_until timestamptz;

-- The status view follows the tracker's case.status events: the highest version applied so far.
ALTER TABLE cases ADD COLUMN status_version integer NOT NULL DEFAULT 0;
