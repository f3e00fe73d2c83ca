"""Running user code as UNIX users, and keeping the instance's own files out of its reach.

- `identity`: which UNIX account a kernel runs as (the impersonation rules' answer, or the
  server's own account), with the refusals: root, accounts below `minTargetUid`, unknown
  accounts, and impersonation asked of a server that does not run as root.
- `layout`: the data directory's split between the private part (store, keys, projects,
  kernelspecs: owner-only) and the `run/` subtree that other accounts may traverse
  (their working directories, homes, kernel sockets and connection files).
- `processes`: stopping every process a kernel left behind, by its session id.
"""
