"""The operator's settings: the config file, secrets, and the limits learned from the instance."""
