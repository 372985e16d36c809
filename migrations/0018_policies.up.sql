-- Stored, named escalation policies (issue 9), one row per version: saving a policy
-- again adds a version, and an escalation keeps a copy of the version it started with
-- (escalations.policy, with policy_name and policy_version saying which it was), so
-- changing or deleting a policy never changes a page already under way.
CREATE TABLE policies (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    version     integer NOT NULL CHECK (version >= 1),
    description text CHECK (char_length(description) <= 500),
    -- The checked policy (domain::EscalationPolicy): levels with their channels resolved.
    policy      jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- The API key that saved this version.
    created_by  text,
    -- Set on every version when the policy is deleted; saving the name again continues
    -- its version numbers.
    deleted_at  timestamptz,
    PRIMARY KEY (tenant_id, name, version)
);

ALTER TABLE escalations
    ADD COLUMN policy_name text,
    ADD COLUMN policy_version integer;
