"""Project archives: export a project to a file, import one (upload, then execute)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

from labkeeper.client._http import Requester, path_segment

CHUNK_BYTES = 64 * 1024


class TemporaryImportHandle:
    """An uploaded archive waiting to be imported; `execute()` creates the project."""

    def __init__(self, client: Requester, import_id: str) -> None:
        self.client = client
        self.import_id = import_id

    def execute(self, settings: dict[str, Any] | None = None) -> dict[str, Any]:
        """Import the archive: `targetProjectKey` (default: the exported key) and `remapping`
        (`{connections: [{source, target}], codeEnvs: [...]}`)."""
        return self.client._perform_json(
            "POST", f"/projects/import/{path_segment(self.import_id)}/process", body=settings or {}
        )


class ArchiveMethods(Requester):
    """DSSClient methods for project archives."""

    def export_project_to_file(self, project_key: str, path: str | Path) -> int:
        """Write project `project_key`'s archive to `path` as it streams; answers its size."""
        written = 0
        response = self._perform_raw("POST", f"/projects/{path_segment(project_key)}/export", body={})
        try:
            with open(path, "wb") as out:
                for chunk in response.iter_bytes(CHUNK_BYTES):
                    out.write(chunk)
                    written += len(chunk)
        finally:
            response.close()
        return written

    def prepare_project_import(self, f: BinaryIO) -> TemporaryImportHandle:
        """Upload an archive (an open binary file); `execute()` on the handle imports it."""
        answer = self._perform_json("POST", "/projects/import/upload", files={"file": ("project.zip", f)})
        return TemporaryImportHandle(self, answer["id"])
