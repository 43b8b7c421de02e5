"""Configuration: defaults < config file < app.py calls < SKITAI_* env < command line.

``builder.Builder`` collects drafts from every source; ``Builder.freeze()`` validates and
returns one frozen, typed, picklable ``model.ServerConfig``.
"""
