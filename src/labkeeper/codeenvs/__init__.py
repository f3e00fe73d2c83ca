"""Code environments: records, builds with uv, Jupyter kernelspecs, usages."""
