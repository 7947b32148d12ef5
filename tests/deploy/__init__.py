"""Tests of what a site installer runs: units, sd_notify, install script, broker config."""
