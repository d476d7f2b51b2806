"""The PostgreSQL store: one shared queue for many hosts (`MOVA_STORE_URL`); needs the `postgres` extra."""
