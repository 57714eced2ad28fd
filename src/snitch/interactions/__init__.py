"""Discord interactions over HTTP: signature checks, the endpoint, and deferred work."""
