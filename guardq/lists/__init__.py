"""Term lists: named block and allow lists of phrases and patterns, matched before the model."""
