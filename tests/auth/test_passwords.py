"""Password hashing: salted, parameterised, and checked in constant time."""

from __future__ import annotations

import pytest

from labkeeper.auth import service
from labkeeper.auth.passwords import check_password, hash_password, verify_password
from labkeeper.errors import BadRequest
from tests.conftest import Instance


def test_hash_and_verify() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second and first.startswith("scrypt$16384$8$1$")
    assert verify_password("correct horse", first) and verify_password("correct horse", second)
    assert not verify_password("correct horsE", first)
    assert verify_password("ünïcödé ✓", hash_password("ünïcödé ✓"))


@pytest.mark.parametrize(
    "stored", [None, "", "plain", "md5$x$y", "scrypt$a$b$c$d$e", "scrypt$16384$8$1$!!$??"]
)
def test_malformed_stored_hashes_never_verify(stored: str | None) -> None:
    assert verify_password("anything", stored) is False


def test_check_password() -> None:
    assert check_password(None) is None and check_password("") is None
    assert check_password("pw") == "pw"
    for bad in (12, ["pw"], "x" * 1025):
        with pytest.raises(BadRequest, match="password"):
            check_password(bad)


def test_verify_user_password(instance: Instance) -> None:
    instance.admin.post("/admin/users/", json={"login": "ann", "password": "ann-pass"})
    instance.admin.post("/admin/users/", json={"login": "nopass"})
    assert service.verify_user_password(instance.store, "ann", "ann-pass")
    assert not service.verify_user_password(instance.store, "ann", "wrong")
    assert not service.verify_user_password(instance.store, "nopass", "")
    assert not service.verify_user_password(instance.store, "ghost", "ann-pass")
    instance.admin.put("/admin/users/ann", json={"enabled": False})
    assert not service.verify_user_password(instance.store, "ann", "ann-pass")
