"""SQL notebooks: cells of SQL run on a connection, each run kept in the cell's history."""
