-- The calsync state store (CALSYNC_STATE_URL) lives in its own database beside Airflow's, so the two
-- schemas never mix and can be backed up or moved apart. Runs once, when the Postgres volume is empty.
CREATE USER calsync WITH PASSWORD 'calsync';
CREATE DATABASE calsync OWNER calsync;
