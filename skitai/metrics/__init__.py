"""The Prometheus exporter daemon (``skitai.enable_metrics(port)``)."""
