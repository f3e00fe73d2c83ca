"""Jupyter notebooks of a project (`.ipynb` files) and their sessions (real kernels).

- `files`: where notebooks live, nbformat validation, list items;
- `service`: notebook create/read/save/delete with the project permission checks;
- `kernels`: kernelspecs (built-in + code envs), the kernel manager classes, kernel env;
- `sessions`: starting, watching, listing and stopping kernels (`SessionManager`);
- `run`: the "run all cells" future; `routes`, `component`: HTTP and app wiring.
"""
