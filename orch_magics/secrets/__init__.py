"""Secrets: `{{secret:NAME}}` from a provider chain, and masking of their values everywhere."""

from .masking import MASK, ShortSecretWarning, mask_bytes, mask_text, register
from .placeholders import Resolver
from .providers import (
    EnvProvider,
    FileProvider,
    KeyringProvider,
    PromptProvider,
    providers_from_settings,
)

__all__ = [
    "MASK", "EnvProvider", "FileProvider", "KeyringProvider", "PromptProvider", "Resolver",
    "ShortSecretWarning", "mask_bytes", "mask_text", "providers_from_settings",
    "register",
]
