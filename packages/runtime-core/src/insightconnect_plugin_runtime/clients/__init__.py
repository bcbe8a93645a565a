"""Client modules (``aws_client``, ``oauth``) contributed by sibling distributions; owned by core."""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
