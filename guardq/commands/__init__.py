"""The ``guardq`` subcommands, one module each; ``guardq.cli`` registers them all.

Each module has ``register(subparsers)``, which adds its parser and sets
``run=callable(args) -> int``. Commands that need the model import ``worker`` inside
``run``, so that guardq itself never imports torch.
"""
