"""Tests on a real local Redis Cluster and a Sentinel-managed primary."""
