"""Chat tests run on both databases: the records fixtures' empty SQLite / PostgreSQL URL."""

from tests.records.conftest import empty_db_url, pg_base_url

__all__ = ["empty_db_url", "pg_base_url"]
