"""``edge-agent kiosk``: the store terminal's pages, a customer screen and a clerk panel, served on this device.

The kiosk is a client of the agent's terminal API like any other: it starts
sessions, relays prompts, the camera preview and the outcome to the pages,
and never sees more than the API gives it (no scores, no embeddings).
"""
