"""The shared store's schema, for `mova db`: create it, upgrade it, say which version it is at."""

from __future__ import annotations

from dataclasses import dataclass

from mova_core.model.errors import InvalidInput
from mova_core.settings import Settings

NO_STORE_URL = "mova db works on a PostgreSQL store: set MOVA_STORE_URL (postgresql://user@host/database)"


@dataclass(frozen=True)
class SchemaState:
    """Where the store's schema was (`before`; 0 for none), where it is, and what this mova needs."""

    schema: str
    url: str
    before: int
    after: int
    wanted: int

    def as_dict(self) -> dict[str, object]:
        return {"schema": self.schema, "store": self.url, "version_before": self.before,
                "version": self.after, "version_wanted": self.wanted}


def migrate_store(settings: Settings) -> SchemaState:
    """Create the schema or bring it to this mova's version (idempotent, safe from several hosts at once)."""
    if settings.store_url is None:
        raise InvalidInput(NO_STORE_URL)
    from mova_core.store.open import migrate_schema

    before, after, wanted = migrate_schema(settings)
    return SchemaState(settings.store_schema, settings.store_url_shown or "", before, after, wanted)
