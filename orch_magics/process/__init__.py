"""What a launched process looks like to its caller: the command, its events, its live handle."""

from .command import Command
from .events import Event, Exit, Stderr, Stdout
from .handle import ProcessBackend, ProcessHandle
from .stdin_writer import StdinWriter

__all__ = [
    "Command", "Event", "Exit", "ProcessBackend", "ProcessHandle", "StdinWriter", "Stderr",
    "Stdout",
]
