"""The course on Kubernetes: Zero to JupyterHub values and the image recipe (see README.md)."""
