"""The researchers' evaluation suite: `contraband evaluate BUNDLE --suite all` (see runner)."""
