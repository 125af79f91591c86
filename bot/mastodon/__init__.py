"""The one door to a Mastodon instance: requests and results as plain types, failures sorted."""
