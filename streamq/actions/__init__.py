"""Running observer actions: the `ActionRuntime`, the HTTP (webhook, Slack) and mail senders,
signing, the SSRF guard, templates and the `[actions]` settings (loaded by `streamq.config`).

Imports `model` and `errors` only.
"""

from .runtime import ActionRuntime
from .settings import ActionSettings
from .signing import SIGNATURE_HEADER, sign, verify_signature
from .templates import Template, compile_template

__all__ = [
    "SIGNATURE_HEADER",
    "ActionRuntime",
    "ActionSettings",
    "Template",
    "compile_template",
    "sign",
    "verify_signature",
]
