-- PostgreSQL roles for a shared ECP Desktop inventory (see README, "Security").
-- Run as a superuser, replacing ecp_inventory (the database), ecp_owner and ecp_operator.
--
-- The owner creates and upgrades the tables: run `ecp-desktop --database
-- postgresql://ecp_owner@HOST/ecp_inventory setup` once as that role, and again after an
-- update of the app that brings a new schema version. Operators only read and write rows:
-- they cannot create, change or drop tables, so no operator's app can change the schema.
CREATE ROLE ecp_owner LOGIN;
CREATE DATABASE ecp_inventory OWNER ecp_owner;
\connect ecp_inventory
GRANT CREATE ON SCHEMA public TO ecp_owner;

CREATE ROLE ecp_operator LOGIN;  -- one per person is better: ALTER ROLE ... PASSWORD, or certificates
GRANT CONNECT ON DATABASE ecp_inventory TO ecp_operator;
GRANT USAGE ON SCHEMA public TO ecp_operator;
-- after the owner's first setup (the tables exist), and after each schema upgrade:
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ecp_operator;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ecp_operator;
