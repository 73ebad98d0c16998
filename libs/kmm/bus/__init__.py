"""The Redis Streams bus: topology table, ACL generation, publisher, consumer groups, fan-out."""
