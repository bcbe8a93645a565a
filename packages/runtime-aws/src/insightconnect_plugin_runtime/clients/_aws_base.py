"""What the private parts of ``aws_client`` share: the logger and the way back to the facade.

``aws_client`` is the module AWS plugins import and their tests patch through
(``aws_client.boto3``, ``aws_client.botocore``, ``aws_client.is_running_in_cloud``,
``aws_client.AWSAction.run``). The parts read ``boto3`` and ``botocore`` from it at call time, so a
patch written against ``aws_client`` reaches them as it did when everything lived in one module.
"""

from __future__ import annotations

import importlib
import logging
import sys
from types import ModuleType

PUBLIC_MODULE = "insightconnect_plugin_runtime.clients.aws_client"

#: One logger for every part, named after the public module (log filters select it by name).
logger = logging.getLogger(PUBLIC_MODULE)


def public() -> ModuleType:
    """The public ``aws_client`` module, where patched names are looked up at call time."""
    module = sys.modules.get(PUBLIC_MODULE)
    return module if module is not None else importlib.import_module(PUBLIC_MODULE)
