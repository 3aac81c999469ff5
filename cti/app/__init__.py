"""The composition root: typed configuration, the ``hotline`` command, and the wiring that
builds and starts every part of the running system. Only this package imports
``web_admin`` and ``asterisk_conf``."""
