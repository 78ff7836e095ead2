"""Page tests share the app's client; each starts and ends without cookies."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from gateway.kit.db import Database


@pytest.fixture
def browser(client: TestClient, db: Database) -> Iterator[TestClient]:
    client.cookies.clear()
    yield client
    client.cookies.clear()
