"""Source lanes (one package per platform) and the bookkeeping they share: progress, checkpoints, discrepancies."""
