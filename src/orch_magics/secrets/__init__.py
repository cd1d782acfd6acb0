"""Placeholders in service values: `{{secret:NAME}}` from a provider chain, `{{env:VAR}}`."""

from .placeholders import Resolver, SecretValues, resolve_mapping

__all__ = ["Resolver", "SecretValues", "resolve_mapping"]
