"""labkeeper's own Python client.

It offers the classes, methods, parameters, defaults and return types that scripts written
for the DSS public API use, so such a script runs against labkeeper by changing its import:

    from labkeeper.client import DSSClient

    client = DSSClient("http://localhost:11200", api_key)
    for key in client.list_project_keys():
        print(client.get_project(key).get_summary())

labkeeper's additions (not in DSS) are marked as such in their docstrings:
`DSSClient.resolve_impersonation`, `DSSClient.get_audit_log`. The modules are private; every
public name is re-exported here once (tests/client/test_exports.py pins the list).
"""

from labkeeper.client._apikeys import (
    DSSGlobalApiKey,
    DSSGlobalApiKeyDefinition,
    DSSGlobalApiKeyListItem,
    DSSPersonalApiKey,
    DSSPersonalApiKeyListItem,
)
from labkeeper.client._client import DSSClient
from labkeeper.client._codeenvs import CodeEnvOperationError, DSSCodeEnv, DSSDesignCodeEnvSettings
from labkeeper.client._connections import (
    DSSConnection,
    DSSConnectionDetailsReadability,
    DSSConnectionInfo,
    DSSConnectionListItem,
    DSSConnectionSettings,
)
from labkeeper.client._environment import api_client, default_project_key
from labkeeper.client._exceptions import (
    BadRequestError,
    ConflictError,
    DataikuException,
    ForbiddenError,
    NotFoundError,
    TooManyRequestsError,
    UnauthorizedError,
)
from labkeeper.client._futures import DSSFuture
from labkeeper.client._jupyter import (
    DSSJupyterNotebook,
    DSSJupyterNotebookContent,
    DSSJupyterNotebookListItem,
    DSSNotebook,
    DSSNotebookSession,
)
from labkeeper.client._projects import DSSProject, DSSProjectSettings
from labkeeper.client._settings import (
    DSSGeneralSettings,
    DSSGroupImpersonationRule,
    DSSInstanceVariables,
    DSSUserImpersonationRule,
)
from labkeeper.client._sqlnotebooks import (
    DSSNotebookContent,
    DSSNotebookHistory,
    DSSNotebookQueryRunListItem,
    DSSSQLNotebook,
    DSSSQLNotebookContent,
    DSSSQLNotebookListItem,
)
from labkeeper.client._usage import DSSGlobalUsageSummary
from labkeeper.client._users import (
    DSSGroup,
    DSSOwnUser,
    DSSOwnUserSettings,
    DSSUser,
    DSSUserSettings,
    DSSUserSettingsBase,
)

__all__ = [
    "BadRequestError",
    "CodeEnvOperationError",
    "ConflictError",
    "DSSClient",
    "DSSCodeEnv",
    "DSSConnection",
    "DSSConnectionDetailsReadability",
    "DSSConnectionInfo",
    "DSSConnectionListItem",
    "DSSConnectionSettings",
    "DSSDesignCodeEnvSettings",
    "DSSFuture",
    "DSSGeneralSettings",
    "DSSGlobalApiKey",
    "DSSGlobalApiKeyDefinition",
    "DSSGlobalApiKeyListItem",
    "DSSGlobalUsageSummary",
    "DSSGroup",
    "DSSGroupImpersonationRule",
    "DSSInstanceVariables",
    "DSSJupyterNotebook",
    "DSSJupyterNotebookContent",
    "DSSJupyterNotebookListItem",
    "DSSNotebook",
    "DSSNotebookContent",
    "DSSNotebookHistory",
    "DSSNotebookQueryRunListItem",
    "DSSNotebookSession",
    "DSSOwnUser",
    "DSSOwnUserSettings",
    "DSSPersonalApiKey",
    "DSSPersonalApiKeyListItem",
    "DSSProject",
    "DSSProjectSettings",
    "DSSSQLNotebook",
    "DSSSQLNotebookContent",
    "DSSSQLNotebookListItem",
    "DSSUser",
    "DSSUserImpersonationRule",
    "DSSUserSettings",
    "DSSUserSettingsBase",
    "DataikuException",
    "ForbiddenError",
    "NotFoundError",
    "TooManyRequestsError",
    "UnauthorizedError",
    "api_client",
    "default_project_key",
]
