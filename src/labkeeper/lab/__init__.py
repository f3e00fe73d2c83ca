"""JupyterLab at /lab, over labkeeper's own project notebooks and notebook sessions."""
