"""Sub-commands of the ``jacwrap`` CLI, one module each (see :mod:`jacwrap.cli`)."""
