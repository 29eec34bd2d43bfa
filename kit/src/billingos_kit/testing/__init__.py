"""Test support every service uses: real servers, a migrated database, a
service running in-process, and a probe that reads published events back.
Nothing here is mocked."""
