"""Training and measuring, with torch alone: data, the network, the cost, the update rules,
the probes and the one loop. Nothing here imports Hydra or MLflow."""
