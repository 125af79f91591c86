"""campaign-bot: publish a planned series of Mastodon posts, exactly once and on time."""

__version__ = "0.1.0"
