"""wordmore: makemore's context-window MLP (Bengio et al. 2003) over characters or words."""

__version__ = "0.1.0"
