from tests.pg.fixtures import bare_pg_target, pg_env, pg_target  # noqa: F401  (fixtures)
