-- The converged state of every tenant (SPEC §5). Every row carries `version`: the platform
-- timeStamp of the change that last wrote it. Tombstones are rows with deleted = true; rows below
-- a floor (tenant delete, full snapshot, user delete) are removed, the floor stands in for them.

CREATE TABLE tenants (
    tenant_id    text PRIMARY KEY,
    version      timestamptz,                 -- NULL: the tenant record itself was never written
    deleted      boolean NOT NULL DEFAULT false,
    tenant_code  text NOT NULL DEFAULT '',
    name         text NOT NULL DEFAULT '',
    domain_name  text NOT NULL DEFAULT '',
    instance_id  text NOT NULL DEFAULT '',
    order_id     text NOT NULL DEFAULT '',
    tenant_floor timestamptz,                 -- everything of the tenant older than this is gone
    org_floor    timestamptz                  -- departments older than this are gone
);

CREATE TABLE departments (
    tenant_id   text NOT NULL,
    org_code    text NOT NULL,
    version     timestamptz NOT NULL,
    deleted     boolean NOT NULL,
    org_name    text NOT NULL,
    parent_code text NOT NULL,
    PRIMARY KEY (tenant_id, org_code)
);

CREATE TABLE users (
    tenant_id  text NOT NULL,
    user_name  text NOT NULL,
    version    timestamptz NOT NULL,
    deleted    boolean NOT NULL,
    data       jsonb NOT NULL,
    auth_floor timestamptz,                   -- this user's authorisations older than this are gone
    PRIMARY KEY (tenant_id, user_name)
);

CREATE TABLE authorizations (
    tenant_id  text NOT NULL,
    user_name  text NOT NULL,
    app_id     text NOT NULL,
    version    timestamptz NOT NULL,
    authorized boolean NOT NULL,
    PRIMARY KEY (tenant_id, user_name, app_id)
);

CREATE TABLE applications (
    tenant_id     text NOT NULL,
    app_id        text NOT NULL,
    version       timestamptz NOT NULL,
    deleted       boolean NOT NULL,
    client_id     text NOT NULL,
    client_secret text NOT NULL,              -- ciphertext as sent; never served by the read API
    instance_id   text NOT NULL,
    PRIMARY KEY (tenant_id, app_id)
);

-- One row per distinct event id: the dedupe record, committed in the same transaction as the
-- event's effect. `call` keeps the normalised call so a tenant can be rebuilt from Postgres.
CREATE TABLE events (
    event_id        text PRIMARY KEY,
    tenant_id       text NOT NULL,
    interface       text NOT NULL,
    time_stamp      timestamptz,
    test_flag       smallint NOT NULL DEFAULT 0,
    status          text NOT NULL CHECK (status IN ('accepted', 'applied', 'duplicate', 'stale', 'test', 'failed', 'dead_lettered')),
    reason          text,
    accepted_at     timestamptz,
    finished_at     timestamptz NOT NULL DEFAULT now(),
    kafka_partition integer,
    kafka_offset    bigint,
    duplicates      integer NOT NULL DEFAULT 0,
    call            jsonb
);
CREATE INDEX events_tenant_time ON events (tenant_id, time_stamp);
CREATE INDEX events_dead_lettered ON events (finished_at) WHERE status = 'dead_lettered';

-- Parts of an envelope too large for one Kafka record, held until the whole upload is here.
CREATE TABLE event_parts (
    upload_id   text NOT NULL,
    part_index  integer NOT NULL,
    part_count  integer NOT NULL,
    event_id    text NOT NULL,
    tenant_id   text NOT NULL,
    data        bytea NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (upload_id, part_index)
);
CREATE INDEX event_parts_event ON event_parts (event_id);
