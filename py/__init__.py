"""Afterburner's backend. One subpackage per capability; see ARCHITECTURE.md in the design notes."""
