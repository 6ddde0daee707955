"""Ryax compatibility: the `ryax_execution` package that Ryax sources import.

Installed with oryx-wrapper so that unchanged Ryax actions import; see docs/wrapper.md.
"""
