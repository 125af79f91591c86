"""The running bot: the one composition root, the daemon, alerts, logs, doctor and rehearsal."""
