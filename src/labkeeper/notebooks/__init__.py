"""Notebooks of a project: Jupyter notebooks (jupyter/) and SQL notebooks (sql/)."""
