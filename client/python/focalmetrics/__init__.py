"""focalmetrics: focal losses, PR-AUC and class statistics computed by a server.

    import focalmetrics
    client = focalmetrics.Client("localhost:50051")
    values = client.compute_loss(logits, targets, losses=["focal"], task="binary")
    print(float(values["focal"]))
"""

from focalmetrics._presets import GAMMA_PRESETS
from focalmetrics.client import Client, FocalMetricsError, LossResult
from focalmetrics.reporter import Reporter, ReporterError, ReporterStats

__all__ = ["GAMMA_PRESETS", "Client", "FocalMetricsError", "LossResult", "Reporter",
           "ReporterError", "ReporterStats"]
