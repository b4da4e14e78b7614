"""Loopback stand-ins for the hosted video engines (fal.ai, Replicate), speaking their documented
protocols; for tests and `make run`, never packaged."""
