"""The promotion resource: staging and production as the promoter role sees them.

No secret in the resource's configuration: Dagster stores resource config in every run's job
snapshot and shows it in the UI, so the URLs here carry a user name only, and the promoter's
password (``GEO_PLATFORM_PROMOTER_PASSWORD``) is read from the environment when a connection
is opened. Without it, libpq's own ``PGPASSFILE``/``PGPASSWORD`` apply.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from dagster import ConfigurableResource
from pydantic import model_validator

from geo_platform.settings import Settings, redact_url, url_with_user
from geo_platform.store import db
from geo_platform.store.promotion_state import BlobStoreLike, Target, make_target
from geo_platform.store.secret_config import database_url_without_password


class PromotionResource(ConfigurableResource):
    """Where promotion reads (staging) and writes (production)."""

    staging_database_url: str
    """Credential-free URL (user name only); the password comes from the environment."""
    production_database_url: str
    production_container: str = "silver-prod"
    production_geo_schema: str = "geo"
    auto_promote: str = ""
    lock_timeout_s: float = 300.0

    @model_validator(mode="before")
    @classmethod
    def _no_password_in_config(cls, data: Any) -> Any:
        data = database_url_without_password(data, "staging_database_url")
        return database_url_without_password(data, "production_database_url")

    @contextmanager
    def connect(self, target: str) -> Iterator[psycopg.Connection[Any]]:
        """A non-autocommit connection to ``staging`` or ``production`` (closed afterwards)."""
        url = self.production_database_url if target == "production" else self.staging_database_url
        conn = db.connect(url, what=f"the {target} database")
        try:
            yield conn
        finally:
            conn.close()

    def targets(
        self, store: BlobStoreLike, staging_container: str, staging_geo_schema: str
    ) -> tuple[Target, Target]:
        """(staging, production) targets; both in ``store`` (one storage account)."""
        source = make_target(
            "staging", self.staging_database_url, staging_geo_schema, store, staging_container
        )
        target = make_target(
            "production",
            self.production_database_url,
            self.production_geo_schema,
            store,
            self.production_container,
        )
        return source, target

    def describe(self) -> dict[str, str]:
        """Both targets without any secret (for logs and metadata)."""
        return {
            "staging": redact_url(self.staging_database_url),
            "production": redact_url(self.production_database_url),
            "production_container": self.production_container,
        }


def promotion_resource(settings: Settings) -> PromotionResource:
    """The resource from settings: both databases as the promoter role."""
    user = settings.promoter_role
    production = settings.production_database_url
    return PromotionResource(
        staging_database_url=url_with_user(settings.database_url, user),
        production_database_url=url_with_user(production, user) if production else "",
        production_container=settings.production_container,
        production_geo_schema=settings.geo_schema,
        auto_promote=settings.auto_promote,
    )
