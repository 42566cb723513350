"""Pure builders of the objects a Microservice owns: ``(Microservice, decisions) -> dict``.

Nothing here talks to the API server or imports kopf.
"""
