"""Imports every domain's tables so that Base.metadata knows all of them."""

from labkeeper.audit import models as audit_models
from labkeeper.auth import models as auth_models
from labkeeper.codeenvs import models as codeenv_models
from labkeeper.connections import models as connection_models
from labkeeper.console import models as console_models
from labkeeper.db import stamps as stamp_models
from labkeeper.futures import models as futures_models
from labkeeper.nodes import models as node_models
from labkeeper.notebooks.jupyter import models as jupyter_models
from labkeeper.notebooks.sql import models as sql_notebook_models
from labkeeper.projects import models as project_models
from labkeeper.projects.archive import models as project_archive_models
from labkeeper.settings import models as settings_models

__all__ = [
    "audit_models",
    "auth_models",
    "codeenv_models",
    "connection_models",
    "console_models",
    "futures_models",
    "jupyter_models",
    "node_models",
    "project_archive_models",
    "project_models",
    "settings_models",
    "sql_notebook_models",
    "stamp_models",
]
