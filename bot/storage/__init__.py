"""What the bot remembers on disk: the SQLite ledger and the operator's control files."""
