"""edge-agent: on-device face verification for carrier store terminals."""

__version__ = "0.1.0"
__all__ = ["__version__"]
