"""The authorization domain: pure rules, standard library only."""
