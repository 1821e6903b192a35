"""Detection over logs: audit logs judged by Sigma rules (:mod:`.logs`) and inference traffic
judged by stateful detectors (:mod:`.inference`)."""
