"""The instance secret: configured keys shared by nodes, rotation, and the generated key."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkeeper.connections import secrets

OLD, NEW, OTHER = "o" * 40, "n" * 40, "x" * 40


@pytest.fixture(autouse=True)
def _forget(tmp_path: Path):  # type: ignore[no-untyped-def]
    yield
    for name in ("a", "b"):
        secrets.configure(tmp_path / name, None)


def test_two_data_dirs_with_one_secret_read_each_others_passwords(tmp_path: Path) -> None:
    secrets.configure(tmp_path / "a", [NEW])
    secrets.configure(tmp_path / "b", [NEW])
    token = secrets.encrypt(tmp_path / "a", "s3cret")
    assert secrets.decrypt(tmp_path / "b", token) == "s3cret"
    assert not (tmp_path / "a" / secrets.KEY_FILE).exists()  # nothing generated


def test_rotation_old_keys_decrypt_and_saving_reencrypts(tmp_path: Path) -> None:
    secrets.configure(tmp_path / "a", [OLD])
    token = secrets.encrypt(tmp_path / "a", "s3cret")
    secrets.configure(tmp_path / "a", [NEW, OLD])
    assert secrets.decrypt(tmp_path / "a", token) == "s3cret"
    rotated = secrets.reencrypt(tmp_path / "a", token)
    secrets.configure(tmp_path / "a", [NEW])  # the old key retired
    assert secrets.decrypt(tmp_path / "a", rotated) == "s3cret"
    with pytest.raises(secrets.SecretUnreadable) as raised:
        secrets.decrypt(tmp_path / "a", token)
    assert OLD not in str(raised.value) and "configured instance secret" in str(raised.value)


def test_a_generated_key_still_decrypts_once_a_secret_is_configured(tmp_path: Path) -> None:
    token = secrets.encrypt(tmp_path / "a", "before")  # a single node's generated key
    assert (tmp_path / "a" / secrets.KEY_FILE).exists()
    secrets.configure(tmp_path / "a", [NEW])
    assert secrets.decrypt(tmp_path / "a", token) == "before"
    secrets.configure(tmp_path / "b", [OTHER])
    with pytest.raises(secrets.SecretUnreadable):
        secrets.decrypt(tmp_path / "b", token)


@pytest.mark.parametrize(
    "value, words",
    [("short", "shorter than 32"), (" ,  , ", "empty"), (NEW + ",tiny", "key 2 is shorter")],
)
def test_unusable_secrets_are_refused_without_showing_them(value: str, words: str) -> None:
    with pytest.raises(secrets.SecretMisconfigured) as raised:
        secrets.configured_keys(value, None)
    assert words in str(raised.value) and "tiny" not in str(raised.value)


def test_key_file_wins_and_ignores_comments(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"# current\n{NEW}\n# retired\n{OLD}\n")
    assert secrets.configured_keys(OTHER, str(path)) == [NEW, OLD]
    with pytest.raises(secrets.SecretMisconfigured, match="cannot read"):
        secrets.configured_keys(None, str(tmp_path / "missing"))


def test_serve_refuses_a_bad_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from labkeeper.cli.main import main

    monkeypatch.setenv("LABKEEPER_SECRET_KEY", "too-short-to-use")
    assert main(["serve", "--data-dir", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "shorter than 32" in err and "too-short-to-use" not in err
