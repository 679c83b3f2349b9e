"""Outbound webhooks: CloudEvents 1.0 JSON, Standard Webhooks signatures, retries and dead letters."""
