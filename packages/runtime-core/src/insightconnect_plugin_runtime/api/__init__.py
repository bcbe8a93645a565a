"""HTTP API modules contributed by icon-runtime-http; core owns this ``__init__`` so it never shadows."""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
