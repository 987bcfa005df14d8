"""Device identity, canonical signed results and the embedding commitment."""
