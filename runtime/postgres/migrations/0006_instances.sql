-- Instances (SPEC §9, the order lifecycle): what the platform's instance calls and the merchant's
-- appInfo add up to. `changes` is the source: every distinct production call of the instance (the
-- state derives from that set, workers/domain/instance_state.py); the other columns are derived from
-- it (and from app_info) on every write, for the read API's filters and the gateway's answers.
CREATE TABLE instances (
    instance_id   text PRIMARY KEY,
    changes       jsonb NOT NULL,               -- [LoggedChange.to_json(), ...]
    status        text NOT NULL CHECK (status IN ('waiting', 'provisioning', 'ready', 'frozen', 'released')),
    order_id      text NOT NULL,
    order_line_id text NOT NULL,
    orders        jsonb NOT NULL,               -- [{orderId, orderLineId}, ...]
    expire_time   text NOT NULL,                -- as the platform sent it: yyyyMMddHHmmss[SSS], UTC
    scene         text NOT NULL,
    product_id    text NOT NULL,
    frozen        boolean NOT NULL,
    released_at   timestamptz,
    version       timestamptz,                  -- the newest change that counts
    app_info      jsonb,                        -- the merchant's (read API) or the ready template's
    ready_at      timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- The read API lists instances by status, newest first.
CREATE INDEX instances_by_status ON instances (status, created_at);
CREATE INDEX instances_by_creation ON instances (created_at);

-- Instance calls are events like the sync calls (dedupe, acks, dead letters, history): their rows carry
-- the instance (tenant_id is '' for them). A sync call's instanceId is kept here too.
ALTER TABLE events ADD COLUMN instance_id text NOT NULL DEFAULT '';
CREATE INDEX events_instance_time ON events (instance_id, time_stamp) WHERE instance_id <> '';
