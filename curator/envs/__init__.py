"""Environments (SPEC 11): TRL's `environment_factory` contract (`contract`), loading an environment and its
tasks (`loader`), and the built-ins: the travel-and-orders sample world (`sample`) and SQL analytics (`sql`)."""
