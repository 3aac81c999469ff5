"""Fixtures shared by every layer of tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from cti.demo.backend import create_demo_backend
from ivr_flows.core.model import Flow
from ivr_flows.loading.loader import load_flow_file

REPO = Path(__file__).resolve().parent.parent
DEMO_FLOW_PATH = REPO / "ivr_flows" / "flows" / "demo_400.yaml"


@pytest.fixture(scope="session")
def demo_flow() -> Flow:
    return load_flow_file(DEMO_FLOW_PATH)


@pytest.fixture(scope="session")
def demo_backend_url() -> Iterator[str]:
    """The demo back-end on 127.0.0.1 and a free port, served from a thread."""
    server = make_server("127.0.0.1", 0, create_demo_backend(slow_seconds=6.0), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)
