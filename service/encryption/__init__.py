"""Encryption at rest of the secrets we must read back (tenant provider keys, webhook signing
secrets): ``cryptography``'s MultiFernet under keys from settings."""
