"""The code env table: one row per env, the whole truth about its settings and state."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from labkeeper.db import Base

# BUILDING: a build holds the env (or was interrupted: see service.effective_state);
# READY: the last build finished and the env matches its spec; BROKEN: the last build
# failed or was aborted, a later update repairs it.
BUILDING, READY, BROKEN = "BUILDING", "READY", "BROKEN"

DESIGN_MANAGED, DESIGN_NON_MANAGED = "DESIGN_MANAGED", "DESIGN_NON_MANAGED"


class CodeEnv(Base):
    __tablename__ = "code_envs"

    lang: Mapped[str] = mapped_column(String(8), primary_key=True)  # PYTHON | R
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    deployment_mode: Mapped[str] = mapped_column(String(40))
    owner: Mapped[str] = mapped_column(String(100), index=True)
    state: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(Text)
    python_version: Mapped[str] = mapped_column(String(20), default="")
    # `desc` as the DSS definition shows it (owner excepted: the column above), with any
    # field labkeeper does not interpret kept as sent; `extra` likewise for top-level fields.
    desc: Mapped[dict] = mapped_column(default=dict)
    extra: Mapped[dict] = mapped_column(default=dict)
    spec_package_list: Mapped[str] = mapped_column(Text, default="")
    spec_conda_environment: Mapped[str] = mapped_column(Text, default="")
    actual_package_list: Mapped[str] = mapped_column(Text, default="")
    permissions: Mapped[list] = mapped_column(default=list)
    usable_by_all: Mapped[bool] = mapped_column(Boolean, default=True)
    jupyter_kernel: Mapped[bool] = mapped_column(Boolean, default=False)
    last_error: Mapped[str] = mapped_column(Text, default="")
    # The build lock: a token claimed atomically before a build or deletion is submitted,
    # the id of the task that holds it, and when it was claimed.
    build_token: Mapped[str] = mapped_column(String(40), default="")
    build_task_id: Mapped[str] = mapped_column(String(40), default="")
    build_claimed_on: Mapped[int] = mapped_column(BigInteger, default=0)
    created_on: Mapped[int] = mapped_column(BigInteger)
    updated_on: Mapped[int] = mapped_column(BigInteger)
    last_built_on: Mapped[int] = mapped_column(BigInteger, default=0)


class StoredBuildLog(Base):
    """A finished build's log, copied from the node that ran the build (codeenvs/storedlogs.py)."""

    __tablename__ = "code_env_build_logs"

    env_lang: Mapped[str] = mapped_column(String(20), primary_key=True)
    env_name: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    node: Mapped[str] = mapped_column(String(100))
    content: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)
    modified_on: Mapped[int] = mapped_column(BigInteger)


class CodeEnvOnNode(Base):
    """One node's build of an env (codeenvs/nodebuilds.py): kernels of the env start on a node
    only once its build there is READY at the env's current version (`CodeEnv.last_built_on`)."""

    __tablename__ = "code_env_nodes"

    node: Mapped[str] = mapped_column(String(100), primary_key=True)
    env_lang: Mapped[str] = mapped_column(String(8), primary_key=True)
    env_name: Mapped[str] = mapped_column(String(100), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))  # BUILDING | READY | BROKEN
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    task_id: Mapped[str] = mapped_column(String(40), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    updated_on: Mapped[int] = mapped_column(BigInteger)
