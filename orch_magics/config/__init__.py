"""Configuration: YAML files in, validated immutable objects out (errors point at the line)."""

from .files import demo_config_files, find_config_files
from .loader import load_config, load_config_text
from .model import Config, Environment, LayerSpec, Service, Step

__all__ = [
    "Config", "Environment", "LayerSpec", "Service", "Step", "demo_config_files",
    "find_config_files", "load_config", "load_config_text",
]
