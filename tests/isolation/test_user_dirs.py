"""A user's folder (home, project work folder, socket folder) made by starts running side by
side: each sees it whole, owned by the user, never half made (still owned by labkeeper)."""

from __future__ import annotations

import os
import pwd
import threading
from pathlib import Path

import pytest

from labkeeper.errors import Conflict
from labkeeper.isolation.identity import UnixIdentity
from labkeeper.isolation.layout import _user_dir

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="folders owned by another account need root")


def _nobody() -> UnixIdentity:
    account = pwd.getpwnam("nobody")
    return UnixIdentity(
        name="nobody", uid=account.pw_uid, gid=account.pw_gid, groups=(), impersonated=True, shared=False
    )


def test_concurrent_starts_each_get_the_folder_owned_by_the_user(tmp_path: Path) -> None:
    ident = _nobody()
    for round_ in range(30):
        folder = tmp_path / f"user-{round_}"
        failures: list[BaseException] = []
        barrier = threading.Barrier(8)

        def start(folder: Path, barrier: threading.Barrier, failures: list[BaseException]) -> None:
            barrier.wait()
            try:
                made = _user_dir(folder, ident)
                assert os.lstat(made).st_uid == ident.uid
            except BaseException as exc:  # noqa: BLE001 - reported below
                failures.append(exc)

        threads = [threading.Thread(target=start, args=(folder, barrier, failures)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        assert os.lstat(folder).st_uid == ident.uid and oct(os.lstat(folder).st_mode & 0o777) == "0o700"
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # nothing left


def test_a_folder_of_another_account_is_refused_and_a_symlink_never_followed(tmp_path: Path) -> None:
    ident = _nobody()
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    with pytest.raises(Conflict):
        _user_dir(theirs, ident)
    target = tmp_path / "target"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    made = _user_dir(link, ident)
    assert not made.is_symlink() and os.lstat(made).st_uid == ident.uid
    assert os.lstat(target).st_uid == 0
