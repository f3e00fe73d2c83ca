"""Database connections: an admin-managed registry, executed through SQLAlchemy."""
