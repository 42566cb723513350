"""microservice-operator: weighted traffic splits between tracks, and health-driven failover."""

# The project's one version: pyproject.toml reads it from here (setuptools' dynamic version), and so
# do `microservice-operator --version` and the API client's User-Agent.
__version__ = "0.1.0"
