ALTER TABLE escalations DROP COLUMN policy_version, DROP COLUMN policy_name;
DROP TABLE policies;
