"""uv's cache between builds: a user's builds are warm, and a hostile build backend cannot
reach another user's envs or later builds through it.

Mallory publishes `lkpoison` (served from the admin's find-links folder, as in
test_builds_containment): its build backend appends to every file of `lkdemo_a` and
`lkdemo_c` it finds in the uv cache its build uses and in the env `team` it may update, and
tries to create a file in the cache folder of Victor's builds. Victor's envs, earlier and
later, must hold the original files."""

from __future__ import annotations

import fcntl
import json
import os
import stat
import textwrap
from pathlib import Path

import pytest

from labkeeper.codeenvs.sandbox import reclaim_idle_caches, user_cache
from labkeeper.isolation.accounts import build_slot_account
from tests.codeenvs.conftest import wheelhouse  # noqa: F401 - the fixture
from tests.codeenvs.helpers import configure, create, definition, save, update
from tests.conftest import Instance
from tests.security.hostile_packages import make_backend_sdist

MARK = "POISONED = True\n"

POISON_BACKEND = """
import base64, glob, hashlib, json, os, zipfile

PLAN = json.loads({plan!r})

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    cache = os.environ.get("UV_CACHE_DIR", "")
    poisoned, planted = [], []
    found = [path for pattern in PLAN["envs"] for path in glob.glob(pattern)]
    for folder, _, files in os.walk(cache):
        if "lkdemo_a" in folder.split(os.sep) or "lkdemo_c" in folder.split(os.sep):
            found += [os.path.join(folder, name) for name in files]
    for path in found:
        try:
            with open(path, "a") as f:
                f.write({mark!r})
            poisoned.append(path)
        except OSError:
            pass
    for target in PLAN["plant"]:
        try:
            os.mkdir(os.path.join(target, "planted-by-mallory"))
            planted.append(target)
        except OSError:
            pass
    with open(os.path.join(PLAN["drop"], "poison-%d.json" % os.getpid()), "w") as f:
        json.dump({{"cache": cache, "poisoned": poisoned, "planted": planted}}, f)
    return _write_wheel(wheel_directory, "lkpoison")
"""


def make_poison_sdist(dest: Path, plan: dict) -> None:
    make_backend_sdist(
        dest, "lkpoison", textwrap.dedent(POISON_BACKEND.format(plan=json.dumps(plan), mark=MARK))
    )


@pytest.fixture
def users(instance: Instance, wheelhouse: Path) -> dict:  # noqa: F811
    """Victor and Mallory, who may create envs; lkpoison in the admin's find-links folder."""
    data = instance.config.data_dir
    poisonhouse, drop = data.parent / "poisonhouse", data.parent / "drop"
    poisonhouse.mkdir(mode=0o755)
    drop.mkdir()
    os.chmod(drop, 0o1777)
    victor_cache = user_cache(data, "victor")
    plant = [str(victor_cache), str(victor_cache.parent)]
    team = data / "code-envs" / "python" / "team" / "lib" / "python3*" / "site-packages" / "lkdemo_a"
    make_poison_sdist(poisonhouse, {"drop": str(drop), "plant": plant, "envs": [f"{team}/*"]})
    configure(instance, wheelhouse)
    settings = instance.admin.get("/admin/general-settings").json()
    settings["codeEnvs"]["packageIndex"]["findLinks"].append(str(poisonhouse))
    assert instance.admin.put("/admin/general-settings", json=settings).status_code in (200, 204)
    rights = {"mayCreateCodeEnvs": True}
    victor = instance.client(instance.make_user("victor", ["victims"], group_permissions=rights))
    mallory = instance.client(instance.make_user("mallory", ["builders"], group_permissions=rights))
    return {"victor": victor, "mallory": mallory, "drop": drop, "victor_cache": victor_cache, "data": data}


def built(client: object, name: str, spec: str) -> Path:
    report = create(client, name, specPackageList=spec)
    assert report["messages"]["error"] is False, json.dumps(report)[-1500:]
    return env_dir(client, name)


def env_dir(client: object, name: str) -> Path:
    return Path(definition(client, name)["path"])


def module_text(env: Path, module: str) -> str:
    return next(env.glob(f"lib/python3*/site-packages/{module}/__init__.py")).read_text()


def poison_report(users: dict) -> dict:
    found = list(users["drop"].glob("poison-*.json"))
    assert len(found) == 1, "the poisoning build backend ran once"
    return json.loads(found[0].read_text())


def assert_clean(env: Path, module: str) -> None:
    assert MARK not in module_text(env, module), f"{env.name}: {module} was poisoned"


def test_a_users_cache_poisons_neither_another_users_envs_nor_their_later_builds(users: dict) -> None:
    victim = built(users["victor"], "victim", "lkdemo-a")
    built(users["mallory"], "first", "lkdemo-a")  # Mallory's cache holds lkdemo-a too
    built(users["mallory"], "poison", "lkpoison")
    seen = poison_report(users)
    assert seen["poisoned"], "the backend found lkdemo-a in its own cache and changed it"
    assert seen["planted"] == [], "the backend reached the folder of Victor's cache"
    assert not list(users["victor_cache"].rglob("planted-by-mallory"))
    assert_clean(victim, "lkdemo_a")
    assert_clean(built(users["victor"], "later", "lkdemo-a"), "lkdemo_a")


def test_updating_someone_elses_env_reaches_none_of_the_owners_other_envs_or_builds(users: dict) -> None:
    victor, mallory = users["victor"], users["mallory"]
    victim = built(victor, "victim", "lkdemo-a")
    built(victor, "team", "lkdemo-a")
    save(victor, "team", permissions=[{"group": "builders", "update": True}])
    save(mallory, "team", specPackageList="lkdemo-a\nlkpoison")  # her right: the env's contents
    assert update(mallory, "team").status_code == 200
    seen = poison_report(users)  # with Victor's cache it would have found lkdemo-a there
    assert seen["cache"] != str(users["victor_cache"]) and seen["planted"] == []
    assert seen["poisoned"], "the backend changed the env it may update"  # through no cache inode
    assert_clean(victim, "lkdemo_a")
    assert_clean(built(victor, "later", "lkdemo-a"), "lkdemo_a")


def test_an_env_installed_earlier_shares_no_file_with_the_cache(users: dict) -> None:
    """Mallory updated Victor's env while she had the right; once it is taken back, her own
    later build, whose cache then belongs to the build account, must not reach that env."""
    victor, mallory = users["victor"], users["mallory"]
    built(victor, "team", "lkdemo-a")
    save(victor, "team", permissions=[{"group": "builders", "update": True}])
    save(mallory, "team", specPackageList="lkdemo-a\nlkdemo-c")
    assert update(mallory, "team").status_code == 200
    save(victor, "team", permissions=[])
    built(mallory, "poison", "lkpoison")
    assert any("lkdemo_c" in path for path in poison_report(users)["poisoned"])
    assert_clean(env_dir(victor, "team"), "lkdemo_c")


def test_a_users_second_env_is_built_from_the_warm_cache(users: dict, instance: Instance) -> None:
    victor = users["victor"]
    built(victor, "one", "lkdemo-b")
    built(victor, "two", "lkdemo-b")
    logs = {name: build_log(victor, name) for name in ("one", "two")}
    assert "Prepared 2 packages" in logs["one"]  # the first build unpacked both wheels
    assert "Installed 2 packages" in logs["two"] and "Prepared" not in logs["two"], logs["two"]
    cache = users["victor_cache"]
    for path in [cache, *cache.rglob("*")]:  # back with the server, closed to other accounts
        st = os.lstat(path)
        assert st.st_uid == os.geteuid(), f"{path} still belongs to uid {st.st_uid}"
        if not stat.S_ISLNK(st.st_mode):
            assert not st.st_mode & 0o6022, f"{path} is writable by others or setuid"
    assert stat.S_IMODE(os.lstat(cache).st_mode) == 0o700


def build_log(client: object, name: str) -> str:
    listing = client.get(f"/admin/code-envs/python/{name}/logs").json()
    newest = max(listing, key=lambda entry: entry.get("lastModified", 0))
    answer = client.get(f"/admin/code-envs/python/{name}/logs/{newest['name']}")
    assert answer.status_code == 200, answer.text
    return answer.text


def test_a_cache_left_lent_by_a_dead_server_is_handed_back_unless_a_build_holds_it(tmp_path: Path) -> None:
    build = build_slot_account(1)
    held, left = user_cache(tmp_path, "held"), user_cache(tmp_path, "left")
    for cache in (held, left):  # as prepare leaves it: lent, then the server died
        (cache / "archive-v0" / "x").mkdir(parents=True)
        (cache / "archive-v0" / "x" / "mod.py").write_text("")
        for path in (cache, *cache.rglob("*")):
            os.chown(path, build.uid, build.gid)
        (cache / "archive-v0" / "x" / "mod.py").chmod(0o666)
        cache.with_name(cache.name + ".lock").touch()
        cache.with_name(cache.name + ".lent").touch()
    running = os.open(held.with_name(held.name + ".lock"), os.O_RDWR)
    fcntl.flock(running, fcntl.LOCK_EX)  # a build of that user still runs
    try:
        reclaim_idle_caches(held.parent)
    finally:
        os.close(running)
    for path in (left, *left.rglob("*")):
        st = os.lstat(path)
        assert st.st_uid == os.geteuid() and not st.st_mode & 0o022, path
    assert not left.with_name(left.name + ".lent").exists()
    assert os.lstat(held / "archive-v0" / "x" / "mod.py").st_uid == build.uid
    assert held.with_name(held.name + ".lent").exists()
