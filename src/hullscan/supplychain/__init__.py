"""Supply chain: digests, signatures (cosign-compatible), trust policy, pinning."""
