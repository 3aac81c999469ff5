"""What the console's views need, handed to the app factory and kept on the app (no globals)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from cti.app.config import Config
from cti.records.db import SessionFactory
from web_admin.catalog import FlowCatalog

EXTENSION = "hotline_console"


@dataclass(frozen=True)
class ConsoleDeps:
    cfg: Config
    session_factory: SessionFactory
    catalog: FlowCatalog


def deps() -> ConsoleDeps:
    found = current_app.extensions[EXTENSION]
    assert isinstance(found, ConsoleDeps)
    return found
