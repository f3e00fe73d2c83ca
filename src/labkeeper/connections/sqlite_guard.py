"""Confinement of SQL run on SQLite connections to the connection's own database file.

Enforced by SQLite itself, on every connection labkeeper opens for a SQLite connection:

- an authorizer (`set_authorizer`) that denies ATTACH and DETACH, every PRAGMA outside a
  list of harmless ones (reads of the schema and of settings, and the few settings that
  only change how this connection checks foreign keys), and the functions that reach the
  process or other files (`load_extension`, `fts3_tokenizer`, ...). SQLite asks it while
  compiling each statement, and again for statements it compiles itself at run time
  (VACUUM INTO attaches its target, pragma table-valued functions run a PRAGMA);
- limits (`setlimit`): no attached database at all, bounded values and statements;
- defensive mode (SQLITE_DBCONFIG_DEFENSIVE: no writable_schema, no writes to the shadow
  tables of virtual tables) and `trusted_schema=OFF`; extension loading stays off;
- the file itself: it must resolve inside `<data dir>/sql`, be a regular file with a single
  link, and not be one of the instance's own files (checked by path and by inode, before
  and after opening, so a symlink or hard link placed later is caught at the next run).

`vet` compiles a statement with EXPLAIN (nothing runs) to refuse it before a run starts;
it also refuses VACUUM, which attaches a database at run time (and VACUUM INTO a file).
"""

from __future__ import annotations

import ctypes
import os
import sqlite3
import sys
from collections.abc import Iterable
from pathlib import Path

SQLITE_LIMIT_LENGTH = 64 * 1024 * 1024
SQLITE_LIMIT_SQL_LENGTH = 16 * 1024 * 1024
_DBCONFIG_DEFENSIVE = 1010

# Pragmas whose argument names a schema object, or that take none: they only read.
READ_PRAGMAS = frozenset(
    {
        "table_info",
        "table_xinfo",
        "table_list",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
        "foreign_key_check",
        "integrity_check",
        "quick_check",
        "database_list",
        "collation_list",
        "function_list",
        "module_list",
        "pragma_list",
        "compile_options",
        "data_version",
        "freelist_count",
        "page_count",
    }
)
# Settings that may be read (no value given) but not changed: changing them reaches other
# files (journal_mode, temp_store_directory), the process (mmap_size, soft_heap_limit,
# threads) or the safety of the file (writable_schema, synchronous, schema_version ...).
READ_ONLY_PRAGMAS = frozenset(
    {
        "application_id",
        "auto_vacuum",
        "automatic_index",
        "busy_timeout",
        "cache_size",
        "cache_spill",
        "encoding",
        "journal_mode",
        "journal_size_limit",
        "locking_mode",
        "max_page_count",
        "mmap_size",
        "page_size",
        "query_only",
        "read_uncommitted",
        "recursive_triggers",
        "schema_version",
        "secure_delete",
        "synchronous",
        "temp_store",
        "trusted_schema",
        "wal_autocheckpoint",
    }
)
# Settings that change only how this one connection checks the statements it runs.
SETTABLE_PRAGMAS = frozenset({"foreign_keys", "defer_foreign_keys", "user_version", "optimize"})
DENIED_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer", "readfile", "writefile", "edit"})
PROTECTED_SUFFIXES = ("", "-wal", "-shm", "-journal")


class Refused(Exception):
    """The statement, or the connection's file, would reach beyond the connection's own database."""


class Guard:
    """The authorizer of one connection; remembers why it last said no."""

    def __init__(self) -> None:
        self.reasons: list[str] = []

    def __call__(
        self, action: int, arg1: str | None, arg2: str | None, _db: str | None, _src: str | None
    ) -> int:
        reason = _reason(action, arg1, arg2)
        if reason is None:
            return sqlite3.SQLITE_OK
        self.reasons.append(reason)
        return sqlite3.SQLITE_DENY

    def refusal(self) -> Refused | None:
        if not self.reasons:
            return None
        reason, self.reasons = self.reasons[0], []
        return Refused(reason)


def _reason(action: int, arg1: str | None, arg2: str | None) -> str | None:
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
        what = "ATTACH (or VACUUM INTO)" if action == sqlite3.SQLITE_ATTACH else "DETACH"
        return (
            f"{what} is not allowed on SQLite connections: SQL on a SQLite connection reaches only "
            "the connection's own database file"
        )
    if action == sqlite3.SQLITE_PRAGMA:
        name = (arg1 or "").lower()
        if name in READ_PRAGMAS or name in SETTABLE_PRAGMAS:
            return None
        if name in READ_ONLY_PRAGMAS and arg2 is None:
            return None
        verb = "changing PRAGMA" if name in READ_ONLY_PRAGMAS else "PRAGMA"
        return (
            f"{verb} {name} is not allowed on SQLite connections: it changes files, limits or the "
            "safety of the connection. Allowed: the schema pragmas (table_info, index_list, "
            "foreign_key_list ...), reading settings, and setting " + ", ".join(sorted(SETTABLE_PRAGMAS))
        )
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in DENIED_FUNCTIONS:
        return (
            f"The function {arg2.lower()}() is not allowed on SQLite connections: it reaches "  # type: ignore[union-attr]
            "other files or the server process"
        )
    return None


class GuardedConnection(sqlite3.Connection):
    """A sqlite3 connection that carries its guard (installed by `open_confined`)."""

    guard: Guard


def protected_files(data_dir: Path, store_url_database: str | None) -> list[Path]:
    """The instance's own files that no SQLite connection may open."""
    bases = [data_dir / "labkeeper.db"]
    if store_url_database and store_url_database != ":memory:":
        bases.append(Path(store_url_database))
    files = [Path(f"{base}{suffix}") for base in bases for suffix in PROTECTED_SUFFIXES]
    for folder in (data_dir, data_dir / "secrets"):
        try:
            files.extend(entry for entry in folder.iterdir() if entry.is_file())
        except OSError:
            pass
    return files


def check_file(root: Path, target: Path, protected: Iterable[Path], shown: str) -> None:
    """Refuse a database file that resolves outside `root`, is linked twice, or is an
    instance file."""
    resolved = target.resolve()
    if root not in resolved.parents:
        raise Refused(f"The SQLite connection path {shown!r} resolves outside the instance's 'sql' folder")
    try:
        stat = resolved.stat()
    except FileNotFoundError:
        stat = None
    if stat is not None:
        if not os.path.isfile(resolved):
            raise Refused(f"The SQLite connection path {shown!r} is not a regular file")
        if stat.st_nlink > 1:
            raise Refused(
                f"The SQLite connection path {shown!r} is a file with several hard links: "
                "a SQLite connection's file must be its own"
            )
    for other in protected:
        # An existing file is the same as another when their inodes are: one stat each. A
        # file not made yet is compared by the path it resolves to (an instance file that
        # does not exist yet either, such as the store's journal, must not be created).
        try:
            same = os.path.samestat(other.stat(), stat) if stat is not None else other.resolve() == resolved
        except OSError:
            same = False
        if same:
            raise Refused(f"The SQLite connection path {shown!r} is one of the instance's own files")


def open_confined(root: Path, path: Path, protected: list[Path], shown: str) -> GuardedConnection:
    check_file(root, path, protected, shown)
    db = sqlite3.connect(str(path), timeout=10, check_same_thread=False, factory=GuardedConnection)
    try:
        _confine(db)
        # The file SQLite opened, after any symlink placed since the check above.
        opened = next((row[2] for row in db.execute("PRAGMA database_list") if row[1] == "main"), "")
        check_file(root, Path(opened or path), protected, shown)
    except BaseException:
        db.close()
        raise
    return db


def _confine(db: GuardedConnection) -> None:
    if hasattr(db, "enable_load_extension"):
        db.enable_load_extension(False)
    db.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    db.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, SQLITE_LIMIT_LENGTH)
    db.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, SQLITE_LIMIT_SQL_LENGTH)
    _defensive(db)
    db.execute("PRAGMA trusted_schema = OFF")
    db.guard = Guard()
    db.set_authorizer(db.guard)


def _defensive(db: sqlite3.Connection) -> None:
    setconfig = getattr(db, "setconfig", None)  # Python 3.12+
    if setconfig is not None:
        setconfig(_DBCONFIG_DEFENSIVE, True)
        return
    # Python 3.11 has no setconfig: call sqlite3_db_config on the connection's handle, the
    # first field after the object header, and only once sqlite3_db_filename proves it is one.
    lib = ctypes.CDLL(sys.modules["_sqlite3"].__file__)
    handle = ctypes.c_void_p.from_address(id(db) + object.__basicsize__).value
    lib.sqlite3_db_filename.restype = ctypes.c_char_p
    lib.sqlite3_db_filename.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    expected = next(row[2] for row in db.execute("PRAGMA database_list") if row[1] == "main")
    if lib.sqlite3_db_filename(handle, b"main") != expected.encode():
        raise Refused("Cannot put this SQLite connection in defensive mode")
    state = ctypes.c_int(-1)
    lib.sqlite3_db_config.restype = ctypes.c_int
    code = lib.sqlite3_db_config(
        ctypes.c_void_p(handle), ctypes.c_int(_DBCONFIG_DEFENSIVE), ctypes.c_int(1), ctypes.byref(state)
    )
    if code != 0 or state.value != 1:
        raise Refused("Cannot put this SQLite connection in defensive mode")


def vet(db: GuardedConnection, statement: str) -> None:
    """Compile `statement` without running it; raise Refused if the guard says no."""
    try:
        plan = db.execute("EXPLAIN " + statement).fetchall()
    except sqlite3.Error:
        refusal = db.guard.refusal()
        if refusal is not None:
            raise refusal from None
        return  # not compilable alone (a table made by an earlier statement ...): checked when run
    for row in plan:
        if row[1] == "Vacuum":
            into = " INTO writes another file, and VACUUM" if row[3] else ""
            raise Refused(
                f"VACUUM is not allowed on SQLite connections: VACUUM{into} attaches a database, "
                "and SQL on a SQLite connection reaches only the connection's own database file"
            )
