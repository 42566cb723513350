"""The parts of the official ``kubernetes`` package that the operator logs in with, and nothing more.

The operator takes its credentials from the package's config loaders (``kubernetes.config``):
kubeconfig files with exec plugins, OIDC, ``tokenFile`` and ``proxy-url``, and the pod's service
account. But ``import kubernetes`` runs the package's ``__init__``, and that imports the whole client:
every API class, the dynamic client, streams, watches and informers. kopf does that at start-up
whenever the package is installed, to offer its own login and to adopt the client's model objects.
That costs the operator 8 MiB of RSS (60 -> 68 MiB at idle) for code it never calls.

:func:`load_config_only` therefore registers ``kubernetes`` and ``kubernetes.client`` as empty
packages that hold only what the config loaders import from them (``Configuration``, and
``ApiClient`` on first use), and then imports ``kubernetes.config``. It must run before kopf is
imported: ``cli.run`` calls it first. kopf then finds no model classes to adopt, and its own
fallback logins are never used, since the operator has a login handler. In any other process (the
tests, which use the whole client) ``kubernetes.config`` is imported as usual.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.machinery
import importlib.util
import logging
import os
import sys
import types
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)


class _ConfigOnly(types.ModuleType):
    """A package of the ``kubernetes`` distribution whose ``__init__`` was not run."""

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}: this process loaded only "
                             "kubernetes.config (see microservice_operator.kubelogin)")


def _package(name: str, locations: list[str]) -> _ConfigOnly:
    module = _ConfigOnly(name, __doc__)
    spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
    spec.submodule_search_locations = list(locations)
    module.__spec__, module.__path__, module.__package__ = spec, list(locations), name
    return module


def load_config_only() -> bool:
    """Imports ``kubernetes.config`` without the rest of the package, unless ``kubernetes`` is imported
    already or not installed. Returns whether it did.

    On any failure (a release of the package laid out otherwise) the stand-ins are removed again and
    a warning logged, so ``import kubernetes`` then imports the whole package as usual.
    """
    if "kubernetes" in sys.modules:
        return False
    found = importlib.util.find_spec("kubernetes")  # a top-level name: finds it without importing it
    if found is None or not found.submodule_search_locations:
        return False
    root = _package("kubernetes", list(found.submodule_search_locations))
    client = _package("kubernetes.client", [os.path.join(p, "client") for p in root.__path__])
    sys.modules["kubernetes"], sys.modules["kubernetes.client"] = root, client
    setattr(root, "client", client)  # noqa: B010 (the stand-ins declare no attributes)
    try:
        configuration = importlib.import_module("kubernetes.client.configuration")
        setattr(client, "Configuration", configuration.Configuration)  # noqa: B010
        setattr(client, "ApiClient", _api_client)  # noqa: B010
        with _oidc_libraries_on_first_use():
            importlib.import_module("kubernetes.config")
    except Exception as err:  # tests/unit/test_credentials.py holds the pinned release to this path
        for name in [n for n in sys.modules if n == "kubernetes" or n.startswith("kubernetes.")]:
            del sys.modules[name]
        log.warning("kubernetes.config could not be loaded alone (%s: %s): the whole package will be",
                    type(err).__name__, err)
        return False
    return True


def loaded_config_only() -> bool:
    """Whether this process has :func:`load_config_only`'s stand-ins for ``kubernetes``."""
    return isinstance(sys.modules.get("kubernetes"), _ConfigOnly)


def _api_client(*args: Any, **kwargs: Any) -> Any:
    """``kubernetes.client.ApiClient``, imported when first called: kube_config calls it only to
    refresh an expired OIDC token (from the identity provider's discovery document)."""
    return importlib.import_module("kubernetes.client.api_client").ApiClient(*args, **kwargs)


def _oauth2_session(*args: Any, **kwargs: Any) -> Any:
    """``requests_oauthlib.OAuth2Session``, imported when first called (an OIDC refresh): it brings
    ``requests`` with it."""
    return importlib.import_module("requests_oauthlib").OAuth2Session(*args, **kwargs)


class _SubmodulesOnFirstUse(types.ModuleType):
    """Stands in for ``oauthlib``, whose ``oauth2`` kube_config names only in an ``except`` clause of
    its OIDC refresh: ``.oauth2`` imports the real one then."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # __file__, __loader__...: what repr() and the import system look for
            raise AttributeError(name)
        return importlib.import_module(f"{self.__name__}.{name}")


@contextlib.contextmanager
def _oidc_libraries_on_first_use() -> Iterator[None]:
    """kube_config imports ``oauthlib.oauth2`` and ``requests_oauthlib.OAuth2Session`` at its top (60
    modules and ``requests``, 5 MiB) for the OIDC refresh alone. Meanwhile those names give stand-ins
    that import the real ones on first use; afterwards both packages import as usual."""
    stand_ins: dict[str, types.ModuleType] = {}
    if "requests_oauthlib" not in sys.modules:
        stand_ins["requests_oauthlib"] = types.ModuleType("requests_oauthlib")
        stand_ins["requests_oauthlib"].OAuth2Session = _oauth2_session  # type: ignore[attr-defined]
    if "oauthlib" not in sys.modules:
        stand_ins["oauthlib"] = _SubmodulesOnFirstUse("oauthlib")
        stand_ins["oauthlib.oauth2"] = types.ModuleType("oauthlib.oauth2")  # `import oauthlib.oauth2` finds it
    sys.modules.update(stand_ins)
    try:
        yield
    finally:
        for name, module in stand_ins.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]


def config_modules() -> tuple[Any, Any]:
    """``kubernetes.config.kube_config`` and ``kubernetes.config.incluster_config`` (the lean ones after
    :func:`load_config_only`, else the package's, importing all of it)."""
    kube_config = importlib.import_module("kubernetes.config.kube_config")
    incluster_config = importlib.import_module("kubernetes.config.incluster_config")
    return kube_config, incluster_config

