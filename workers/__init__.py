"""What consumes events: the applier (domain rules + Postgres), the ack sender, replay, retention."""
