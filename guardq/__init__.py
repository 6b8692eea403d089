"""guardq: queue-based content moderation on the Qwen3Guard-Gen safety models."""

__version__ = "0.1.0"
