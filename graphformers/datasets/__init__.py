"""graphformers.datasets (exports are listed at the end of the foundation work)."""
