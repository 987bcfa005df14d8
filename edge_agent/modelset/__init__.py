"""Signed model bundles: packing (release side), verification and atomic installation (device side)."""
