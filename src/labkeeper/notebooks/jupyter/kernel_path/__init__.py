"""Files copied onto every kernel's PYTHONPATH (`data_dir/run/kernel-lib/`).

`dataiku/` is the compatibility module (`dataiku.api_client()`,
`dataiku.default_project_key()`); `labkeeper/` is the package stub under which labkeeper's
client is copied, so the client imports in any code env that has httpx.
"""
