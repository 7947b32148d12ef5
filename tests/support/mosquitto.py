"""The test broker is the demo's broker helper; re-exported here for the tests."""

from simulator.broker import Broker, free_port, mosquitto_binary, running_broker, write_config

__all__ = ["Broker", "free_port", "mosquitto_binary", "running_broker", "write_config"]
