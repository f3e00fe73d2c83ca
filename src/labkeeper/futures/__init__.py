"""Long-running tasks (futures): records, the runner interface and its in-process runner."""
