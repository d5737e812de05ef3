-- PostgreSQL roles for a shared ECP Desktop inventory (see docs/security.md).
-- Run as a superuser, replacing ecp_inventory (the database), ecp_owner and ecp_operator.
--
-- The owner creates and upgrades the tables, in a schema of its own (ecp): run
-- `ecp-desktop --database postgresql://ecp_owner@HOST/ecp_inventory setup` once as that role,
-- and again after an update of the app that brings a new schema version. Operators only read
-- and write rows: they cannot create, change or drop tables, here or in public, so no
-- operator can change the schema or make a table in advance that a later upgrade would use
-- (an upgrade refuses a table another role owns).
CREATE ROLE ecp_owner LOGIN;
CREATE DATABASE ecp_inventory OWNER ecp_owner;
\connect ecp_inventory
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON DATABASE ecp_inventory FROM PUBLIC;
CREATE SCHEMA ecp AUTHORIZATION ecp_owner;
ALTER ROLE ecp_owner IN DATABASE ecp_inventory SET search_path = ecp;

CREATE ROLE ecp_operator LOGIN;  -- one per person is better: ALTER ROLE ... PASSWORD, or certificates
ALTER ROLE ecp_operator IN DATABASE ecp_inventory SET search_path = ecp;
GRANT CONNECT ON DATABASE ecp_inventory TO ecp_operator;
GRANT USAGE ON SCHEMA ecp TO ecp_operator;
-- Rows of every table the owner makes, now and at each upgrade, without a grant each time:
ALTER DEFAULT PRIVILEGES FOR ROLE ecp_owner IN SCHEMA ecp GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ecp_operator;
ALTER DEFAULT PRIVILEGES FOR ROLE ecp_owner IN SCHEMA ecp GRANT USAGE, SELECT ON SEQUENCES TO ecp_operator;
