"""Where code envs are used, gathered from every domain that names them.

A provider is `fn(store, *, env_lang, env_name) -> list[usage]`, where both names are None
to ask for every usage of every env, and a usage is a dict with at least `envUsage`,
`envLang`, `envName`, `projectKey`, `objectType` and `objectId`. Projects (project defaults,
recipes) are built in; another domain adds its own with `register_usage_provider(fn)` (the
notebooks domain does so for notebooks whose kernel runs in an env). A provider that reads
files also gives `files_stamp(store)`: the file stamp of what it reads (server/answers.py),
so that the usages can be kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labkeeper.db import Store
from labkeeper.server.answers import combined_stamp

UsageProvider = Callable[..., list[dict[str, Any]]]
FilesStamp = Callable[[Store], tuple[Callable[[], Any], Any]]
_PROVIDERS: list[UsageProvider] = []
_FILES_STAMPS: dict[UsageProvider, FilesStamp] = {}


def register_usage_provider(
    provider: UsageProvider, *, files_stamp: FilesStamp | None = None
) -> UsageProvider:
    if provider not in _PROVIDERS:
        _PROVIDERS.append(provider)
    if files_stamp is not None:
        _FILES_STAMPS[provider] = files_stamp
    return provider


def files_stamp(store: Store) -> tuple[Callable[[], Any], Any] | None:
    """The file stamp of every file the providers read (None: they read none), to be taken
    before `usages_of` or `all_usages`."""
    stamps = [_FILES_STAMPS[p](store) for p in _providers() if p in _FILES_STAMPS]
    return combined_stamp(stamps) if stamps else None


def _projects(store: Store, *, env_lang: str | None, env_name: str | None) -> list[dict[str, Any]]:
    from labkeeper.projects.service import code_env_usages, project_env_usages_all

    if env_lang is None or env_name is None:
        return project_env_usages_all(store)
    return code_env_usages(store, env_lang=env_lang, env_name=env_name)


def _providers() -> list[UsageProvider]:
    return [_projects, *_PROVIDERS]


def usages_of(store: Store, *, env_lang: str, env_name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for provider in _providers():
        found += provider(store, env_lang=env_lang, env_name=env_name)
    return found


def all_usages(store: Store) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for provider in _providers():
        found += provider(store, env_lang=None, env_name=None)
    return found
