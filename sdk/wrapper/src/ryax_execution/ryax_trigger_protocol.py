"""Older Ryax sources name the protocol `RyaxTriggerProtocol`; it is the same interface."""

from .ryax_source_protocol import RyaxRunStatus, RyaxSourceProtocol

RyaxTriggerProtocol = RyaxSourceProtocol

__all__ = ["RyaxRunStatus", "RyaxSourceProtocol", "RyaxTriggerProtocol"]
