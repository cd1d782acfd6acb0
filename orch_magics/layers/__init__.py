"""Execution layers: where a process runs, one hop at a time."""

from .base import LaunchContext, Launcher, LayerKind, Pooled, TunnelCarrier, UnixForwarder
from .registry import get_kind, kind_names

__all__ = ["LaunchContext", "Launcher", "LayerKind", "Pooled", "TunnelCarrier", "UnixForwarder",
           "get_kind", "kind_names"]
