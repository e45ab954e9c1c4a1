-- Events parked until their case exists are authorised when they apply: who signed them is kept.
ALTER TABLE parked_events ADD COLUMN partner text;

-- case.status: how many events were applied to the case (its status events' version).
ALTER TABLE cases ADD COLUMN status_seq integer NOT NULL DEFAULT 0;
