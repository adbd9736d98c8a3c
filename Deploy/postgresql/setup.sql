-- The router's role and database (run once as the postgres superuser: psql -f setup.sql).
-- The router creates and migrates its own tables at start, so the role owns the database.
-- Set the password afterwards with \password gridhub and put it in /etc/gridhub/router.env.
CREATE ROLE gridhub LOGIN;
CREATE DATABASE gridhub OWNER gridhub ENCODING 'UTF8' TEMPLATE template0;
