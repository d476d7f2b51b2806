from tests.http.conftest import serve  # noqa: F401  (a real `mova serve` on a free loopback port)
from tests.pg.fixtures import bare_pg_target, pg_env, pg_target  # noqa: F401  (fixtures)
