"""What a key grants is kept in memory between requests, and every change to keys, users,
groups or memberships, made by any process and by any means, shows on the next request."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import sqlalchemy as sa

from labkeeper.auth.keys import hash_secret
from labkeeper.db import now_ms
from labkeeper.db.stamps import IDENTITY
from tests.auth.helpers import assert_error
from tests.conftest import API, Instance

# Plain SQL from another connection: no labkeeper code runs, so only the store can tell.
CHANGES = {
    "key deleted": ("DELETE FROM api_keys WHERE secret_hash = :digest", 401),
    "key expired": ("UPDATE api_keys SET expires_on = :past WHERE secret_hash = :digest", 401),
    "user disabled": ("UPDATE users SET enabled = false WHERE login = 'carol'", 401),
    "user deleted": ("DELETE FROM users WHERE login = 'carol'", 401),
    "membership removed": ("DELETE FROM memberships WHERE login = 'carol'", 403),
    "group lost admin": ("UPDATE groups SET admin = false WHERE name = 'ops'", 403),
    "group deleted": ("DELETE FROM groups WHERE name = 'ops'", 403),
}


def run_elsewhere(instance: Instance, sql: str, **params: object) -> None:
    engine = sa.create_engine(instance.store.url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(sql), params)
    finally:
        engine.dispose()


@pytest.mark.parametrize("change", CHANGES)
def test_a_change_made_elsewhere_shows_on_the_next_request(instance: Instance, change: str) -> None:
    secret = instance.make_user("carol", ["ops"], admin_group=True)
    carol = instance.client(secret)
    for _ in range(3):  # known to this process from the second request on
        assert carol.get("/admin/general-settings").status_code == 200
    sql, status = CHANGES[change]
    run_elsewhere(instance, sql, digest=hash_secret(secret), past=now_ms() - 1000)
    assert_error(carol.get("/admin/general-settings"), status)


def test_a_global_keys_groups_changed_elsewhere(instance: Instance) -> None:
    instance.make_user("dan", ["admins2"], admin_group=True)
    key = instance.admin.post(
        "/admin/global-api-keys/", json={"label": "robot", "globalPermissions": {"admin": False}}
    ).json()
    robot = instance.client(key["key"])
    assert_error(robot.get("/admin/general-settings"), 403)
    run_elsewhere(
        instance,
        "UPDATE api_keys SET groups = :groups WHERE secret_hash = :digest",
        groups='["admins2"]',
        digest=hash_secret(key["key"]),
    )
    assert robot.get("/admin/general-settings").status_code == 200


def test_recording_the_last_use_keeps_what_is_known(instance: Instance) -> None:
    secret = instance.make_user("erin")
    erin = instance.client(secret)
    before = instance.store.stamps().get(IDENTITY, 0)
    assert erin.get("/current-user").status_code == 200  # first use: lastUsedOn is written
    with instance.store.read() as s:
        used = s.execute(
            sa.text("SELECT last_used_on FROM api_keys WHERE secret_hash = :d"), {"d": hash_secret(secret)}
        ).scalar()
    assert used > 0
    assert instance.store.stamps().get(IDENTITY, 0) == before


def test_a_known_key_still_expires_on_time(instance: Instance) -> None:
    secret = instance.make_user("finn")
    expires = now_ms() + 1500
    run_elsewhere(
        instance,
        "UPDATE api_keys SET expires_on = :t WHERE secret_hash = :d",
        t=expires,
        d=hash_secret(secret),
    )
    finn = instance.client(secret)
    assert finn.get("/current-user").status_code == 200
    time.sleep(max(0.0, (expires - now_ms()) / 1000) + 0.05)
    assert_error(finn.get("/current-user"), 401, "expired")


def test_concurrent_requests_all_see_a_revocation(instance: Instance) -> None:
    """Requests served at the same time on the app's loop (on PostgreSQL they share stamp
    reads): every one sent after the revocation fails."""
    secret = instance.make_user("gail", ["ops"], admin_group=True)

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=instance.app)
        headers = {"Authorization": f"Bearer {secret}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t" + API, headers=headers
        ) as client:
            answers = await asyncio.gather(*(client.get("/admin/general-settings") for _ in range(40)))
        return [answer.status_code for answer in answers]

    assert set(instance.portal.call(burst)) == {200}
    run_elsewhere(instance, "DELETE FROM api_keys WHERE secret_hash = :d", d=hash_secret(secret))
    assert set(instance.portal.call(burst)) == {401}
