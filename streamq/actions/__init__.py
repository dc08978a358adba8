"""Running observer actions: the `ActionRuntime`, the HTTP (webhook, Slack) and mail senders,
signing, the SSRF guard, templates and the `[actions]` settings.

Imports `model` and `errors` only.
"""

from .runtime import ActionRuntime
from .settings import ActionSettings, load_action_settings
from .signing import SIGNATURE_HEADER, sign, verify_signature
from .templates import Template, compile_template

__all__ = [
    "SIGNATURE_HEADER",
    "ActionRuntime",
    "ActionSettings",
    "Template",
    "compile_template",
    "load_action_settings",
    "sign",
    "verify_signature",
]
