"""tuneforge control plane: settings, data model, validation, jobs, billing, webhooks, API."""
