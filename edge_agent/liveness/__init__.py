"""Active liveness (challenge of blinks and head turns) and passive presentation-attack evidence."""
