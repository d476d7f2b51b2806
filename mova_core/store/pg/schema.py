"""The store's tables, as numbered migrations, and the check every command makes before using them.

A migration runs in one transaction under an advisory lock named for the schema, so hosts running
`mova db migrate` at once apply each step exactly once; the others wait, then find nothing to do.
"""

from __future__ import annotations

from psycopg import Connection, sql

from mova_core.model.errors import InvalidInput

# Text columns sort and compare as bytes ("C"), as the file store's SQLite index does, whatever the
# database's own collation.
_MIGRATIONS: tuple[str, ...] = (
    # 1: the entries: summary columns for listings, the exact JSON text, a version for each change.
    """
    CREATE TABLE {schema}.entries (
        id text COLLATE "C" PRIMARY KEY,
        run_id text COLLATE "C" NOT NULL,
        status text COLLATE "C" NOT NULL,
        created_at text COLLATE "C" NOT NULL,
        created_ts double precision NOT NULL,
        workflow_type text COLLATE "C" NOT NULL,
        user_id text COLLATE "C",
        action_type text COLLATE "C",
        last_error text COLLATE "C" NOT NULL DEFAULT '',
        failure_reason text COLLATE "C",
        attempts bigint NOT NULL DEFAULT 0,
        retry_count bigint NOT NULL DEFAULT 0,
        fingerprint text COLLATE "C" NOT NULL DEFAULT '',
        priority bigint,
        lease_owner text COLLATE "C",
        lease_expires_ts double precision,
        search_text text COLLATE "C" NOT NULL DEFAULT '',
        doc text NOT NULL,
        version bigint NOT NULL DEFAULT 1,
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX entries_created ON {schema}.entries (created_ts);
    CREATE INDEX entries_status_created ON {schema}.entries (status, created_ts);
    CREATE INDEX entries_type ON {schema}.entries (workflow_type);
    CREATE INDEX entries_fingerprint ON {schema}.entries (fingerprint);
    """,
    # 2: the audit log, written in the transaction of the change it records.
    """
    CREATE TABLE {schema}.audit (
        seq bigserial PRIMARY KEY,
        time timestamptz NOT NULL DEFAULT now(),
        op text NOT NULL,
        entry_id text COLLATE "C",
        change text COLLATE "C",
        record text NOT NULL
    );
    CREATE INDEX audit_entry ON {schema}.audit (entry_id, seq);
    CREATE INDEX audit_change ON {schema}.audit (change);
    """,
    # 3: a narrow index that statistics count per status and type from, without reading the wide rows.
    """
    CREATE INDEX entries_kind ON {schema}.entries (status, workflow_type);
    """,
    # run records, one row per run (the mode a column), and their logs, one row per line numbered
    # from 0 within its run: every host follows every run.
    """
    CREATE TABLE {schema}.runs (
        run_id text COLLATE "C" PRIMARY KEY,
        sandbox boolean NOT NULL,
        status text COLLATE "C" NOT NULL,
        dlq_id text COLLATE "C",
        start_time text COLLATE "C",
        record text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX runs_listed ON {schema}.runs (sandbox, start_time);
    CREATE INDEX runs_entry ON {schema}.runs (dlq_id);
    CREATE TABLE {schema}.run_log (
        run_id text COLLATE "C" NOT NULL,
        line_no bigint NOT NULL,
        line text NOT NULL,
        PRIMARY KEY (run_id, line_no)
    );
    """,
    # documents compressed with lz4 where the server has it (pglz took most of a batch write's
    # time on the server); a server built without it keeps pglz. Only values written later change.
    """
    DO $$ BEGIN
        EXECUTE 'ALTER TABLE {schema}.entries ALTER COLUMN doc SET COMPRESSION lz4';
    EXCEPTION WHEN feature_not_supported OR syntax_error OR invalid_parameter_value THEN NULL;
    END $$;
    """,
    # The metrics' counters, folded from the audit table and the entries' arrivals (pg/counters.py).
    # Each audit row and arrival carries its writer's transaction id: a fold counts only rows of
    # transactions already finished, whatever order their sequence numbers commit in. Rows older
    # than this step read as transaction 0 (finished); the entries present now arrive once.
    """
    ALTER TABLE {schema}.audit ADD COLUMN xid xid8 NOT NULL DEFAULT '0';
    ALTER TABLE {schema}.audit ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
    CREATE INDEX audit_xid ON {schema}.audit (xid);
    CREATE TABLE {schema}.counter_state (
        one boolean PRIMARY KEY DEFAULT true CHECK (one),
        folded_below xid8 NOT NULL DEFAULT '0'
    );
    INSERT INTO {schema}.counter_state DEFAULT VALUES;
    CREATE TABLE {schema}.counter_values (
        name text COLLATE "C",
        labels text COLLATE "C",
        value double precision NOT NULL,
        PRIMARY KEY (name, labels)
    );
    CREATE TABLE {schema}.counter_known (
        id text COLLATE "C" PRIMARY KEY,
        workflow_type text COLLATE "C",
        created_ts double precision
    );
    CREATE TABLE {schema}.counter_claims (
        entry_id text COLLATE "C" PRIMARY KEY,
        retry_run_id text COLLATE "C",
        sandbox boolean NOT NULL,
        ts double precision
    );
    CREATE TABLE {schema}.counter_failures (
        entry_id text COLLATE "C" PRIMARY KEY,
        ts double precision NOT NULL
    );
    CREATE TABLE {schema}.counter_arrivals (
        seq bigserial PRIMARY KEY,
        xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
        id text COLLATE "C" NOT NULL,
        workflow_type text COLLATE "C",
        created_ts double precision
    );
    CREATE INDEX counter_arrivals_xid ON {schema}.counter_arrivals (xid);
    CREATE FUNCTION {schema}.counter_arrival() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO {schema}.counter_arrivals (id, workflow_type, created_ts)
            VALUES (NEW.id, NEW.workflow_type, NEW.created_ts);
        RETURN NULL;
    END $$;
    CREATE TRIGGER entries_arrival AFTER INSERT ON {schema}.entries
        FOR EACH ROW EXECUTE FUNCTION {schema}.counter_arrival();
    INSERT INTO {schema}.counter_arrivals (xid, id, workflow_type, created_ts)
        SELECT '0', id, workflow_type, created_ts FROM {schema}.entries;
    """,
    # entries counted per (status, workflow type) by statement triggers: each change appends its
    # deltas (so no change waits on a shared counter row), a read sums them and now and then folds
    # them together. Statistics and a listing's total need not count the whole table.
    """
    CREATE TABLE {schema}.entry_counts (
        status text COLLATE "C" NOT NULL,
        workflow_type text COLLATE "C" NOT NULL,
        n bigint NOT NULL
    );
    CREATE FUNCTION {schema}.count_entries() RETURNS trigger LANGUAGE plpgsql AS $count$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO {schema}.entry_counts
                SELECT status, workflow_type, count(*) FROM new_rows GROUP BY 1, 2;
        ELSIF TG_OP = 'DELETE' THEN
            INSERT INTO {schema}.entry_counts
                SELECT status, workflow_type, -count(*) FROM old_rows GROUP BY 1, 2;
        ELSE
            INSERT INTO {schema}.entry_counts
                SELECT status, workflow_type, sum(d) FROM (
                    SELECT status, workflow_type, 1 AS d FROM new_rows
                    UNION ALL SELECT status, workflow_type, -1 FROM old_rows) AS moved
                GROUP BY 1, 2 HAVING sum(d) <> 0;
        END IF;
        RETURN NULL;
    END $count$;
    CREATE TRIGGER entries_counted_insert AFTER INSERT ON {schema}.entries
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {schema}.count_entries();
    CREATE TRIGGER entries_counted_update AFTER UPDATE ON {schema}.entries
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION {schema}.count_entries();
    CREATE TRIGGER entries_counted_delete AFTER DELETE ON {schema}.entries
        REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {schema}.count_entries();
    INSERT INTO {schema}.entry_counts
        SELECT status, workflow_type, count(*) FROM {schema}.entries GROUP BY 1, 2;
    """,
    # 8: arrivals recorded once per statement from its new rows, not by a function call per row:
    # a batch import's INSERT of many rows spent a fifth of its server time in the row trigger.
    """
    DROP TRIGGER entries_arrival ON {schema}.entries;
    CREATE OR REPLACE FUNCTION {schema}.counter_arrival() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO {schema}.counter_arrivals (id, workflow_type, created_ts)
            SELECT id, workflow_type, created_ts FROM arrived;
        RETURN NULL;
    END $$;
    CREATE TRIGGER entries_arrival AFTER INSERT ON {schema}.entries
        REFERENCING NEW TABLE AS arrived FOR EACH STATEMENT EXECUTE FUNCTION {schema}.counter_arrival();
    """,
)
#: The schema version this code reads and writes.
SCHEMA_VERSION = len(_MIGRATIONS)


class SchemaNotReady(InvalidInput):
    """The store's schema is missing, or older (or newer) than this mova's."""


def current_version(conn: Connection, schema: str) -> int | None:
    """The schema's version, or None when the schema has no mova tables."""
    found = conn.execute("SELECT to_regclass(%s)", (f"{schema}.schema_version",)).fetchone()
    if found is None or found[0] is None:
        return None
    row = conn.execute(sql.SQL("SELECT max(version) FROM {}.schema_version").format(sql.Identifier(schema))).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def migrate(conn: Connection, schema: str, target: int = SCHEMA_VERSION) -> tuple[int, int]:
    """Create or upgrade the schema to `target` in one transaction; returns (version before, after)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"mova schema {schema}",))
        ident = sql.Identifier(schema)
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
        conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {}.schema_version "
                             "(version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
                     .format(ident))
        before = current_version(conn, schema) or 0
        if before > SCHEMA_VERSION:
            raise SchemaNotReady(_newer(schema, before))
        for number in range(before + 1, target + 1):
            conn.execute(sql.SQL(_MIGRATIONS[number - 1]).format(schema=ident))
            conn.execute(sql.SQL("INSERT INTO {}.schema_version (version) VALUES (%s)").format(ident), (number,))
        return before, max(before, target)


def check(conn: Connection, schema: str) -> None:
    """SchemaNotReady unless the schema is at this code's version."""
    version = current_version(conn, schema)
    if version is None or version == 0:
        raise SchemaNotReady(f"the store has no mova schema {schema!r} yet: run `mova db migrate`")
    if version < SCHEMA_VERSION:
        raise SchemaNotReady(f"the store's schema {schema!r} is at version {version}, this mova needs "
                             f"{SCHEMA_VERSION}: run `mova db migrate`")
    if version > SCHEMA_VERSION:
        raise SchemaNotReady(_newer(schema, version))


def _newer(schema: str, version: int) -> str:
    return (f"the store's schema {schema!r} is at version {version}, newer than this mova's "
            f"{SCHEMA_VERSION}: upgrade mova on this host")
