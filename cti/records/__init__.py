"""Records: the database side of Hotline (SQLAlchemy 2.0). Only this package imports SQLAlchemy.

- ``core``: the pure part: typed interaction events (facts) and their projection onto rows
- ``store``: append events and update the interaction rows they project onto
- ``writer``: the one background writer (batches, retries, spill to disk, dead letters)
- ``customers`` / ``history``: customers across channels; history, timelines, live figures
- ``db``: engines and session factories from a URL (SQLite by default, PostgreSQL in production)
- ``models``: the typed declarative tables
- ``users``: console users (create, authenticate) returning plain dataclasses
- ``migrate``: Alembic migrations, run programmatically (``upgrade(db_url)``)
"""
