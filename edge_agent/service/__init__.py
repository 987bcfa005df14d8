"""The long-running agent: local terminal API, sessions, health, systemd integration."""
