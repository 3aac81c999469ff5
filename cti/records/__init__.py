"""Records: the database side of Hotline (SQLAlchemy 2.0). Only this package imports SQLAlchemy.

- ``db``: engines and session factories from a URL (SQLite by default, PostgreSQL in production)
- ``models``: the typed declarative tables
- ``users``: console users (create, authenticate) returning plain dataclasses
- ``migrate``: Alembic migrations, run programmatically (``upgrade(db_url)``)
"""
