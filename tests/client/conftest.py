"""labkeeper's own client as admin against a live labkeeper (real HTTP on loopback)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from labkeeper.client import DSSClient
from tests.conftest import ADMIN_KEY, LiveServer


@pytest.fixture
def lk(live: LiveServer) -> Iterator[DSSClient]:
    with DSSClient(live.url, ADMIN_KEY, timeout=60) as client:
        yield client
