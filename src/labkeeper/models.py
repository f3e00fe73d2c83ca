"""Imports every domain's tables so that Base.metadata knows all of them."""

from labkeeper.audit import models as audit_models
from labkeeper.auth import models as auth_models
from labkeeper.codeenvs import models as codeenv_models
from labkeeper.futures import models as futures_models
from labkeeper.projects import models as project_models
from labkeeper.settings import models as settings_models

__all__ = [
    "audit_models",
    "auth_models",
    "codeenv_models",
    "futures_models",
    "project_models",
    "settings_models",
]
