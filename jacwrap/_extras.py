"""Optional extras: import a package of one, or say which extra to install.

``pip install jacwrap`` installs only what the wrapper needs (JAX, MuJoCo, MJX, Playground,
Gymnasium, NumPy, zstandard). The rest comes with an extra (README: Install):

=============  ===========================================  ==================================
extra          packages                                     for
=============  ===========================================  ==================================
``sb3``        stable-baselines3, torch, colorednoise       ``make_sb3``, SB3 policies, demo
``tui``        textual                                      ``jacwrap replay``, the demo replay
``analysis``   matplotlib, scikit-learn                     ``jacwrap analyze`` / ``reproduce``
``fit``        optax, matplotlib                            ``jacwrap fit``
``agents``     the ``sb3`` extra                            training the shipped agents
``render``     PyOpenGL, imageio, imageio-ffmpeg, matplotlib  ``render_mode``, ``jacwrap render``
``export``     minari, pyarrow                              ``jacwrap export``
``ray``        ray                                          ``reproduce --executor ray``
=============  ===========================================  ==================================

>>> from jacwrap._extras import require
>>> require("sb3", "json").__name__       # an installed module is returned
'json'
"""

from __future__ import annotations

import importlib
from types import ModuleType

from jacwrap.errors import JacwrapError


class MissingExtraError(JacwrapError, ImportError):
    """A package of an optional extra is not installed; the message names the extra."""


def require(
    extra: str, module: str, *, error: type[MissingExtraError] = MissingExtraError
) -> ModuleType:
    """Import ``module`` or raise ``error`` saying ``pip install 'jacwrap[extra]'``.

    An ``ImportError`` raised inside ``module`` for a package other than the missing one
    (a broken install of that package) is re-raised as it is.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing and missing != module.split(".")[0]:
            raise
        raise error(
            f"{module} is not installed; it comes with the {extra!r} extra: "
            f"pip install 'jacwrap[{extra}]' ({exc})"
        ) from exc
