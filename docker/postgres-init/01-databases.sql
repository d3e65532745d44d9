-- Databases of the compose stack: Airflow's metadata database and ps-sync's store.
CREATE DATABASE airflow;
CREATE DATABASE ps_sync;
