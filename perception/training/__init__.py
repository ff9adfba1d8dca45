"""Multi-task training: data assembly, targets, losses and the epoch loops (CLI: ``perception.train``)."""
