"""The reference carrier: the receiving side of the carrier protocol, for tests, demos and integrators.

Kept apart from ``edge_agent.carrier`` (what the device runs: the client,
the outbox sender, the PKI helpers both sides share) so the device's code
never depends on the server's, and a carrier can replace this package with
its own implementation of ``proto/carrier.proto``.
"""
