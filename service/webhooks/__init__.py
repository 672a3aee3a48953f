"""Webhooks: endpoints, Standard Webhooks signing, SSRF-safe sending and the delivery engine."""
