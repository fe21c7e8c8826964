"""Tables of the gateway service, all in its own ``gateway`` schema."""

from parley.kit.db import declarative_base
from parley.kit.eventstore import define_kit_tables

Base = declarative_base("gateway")
metadata = Base.metadata
kit_tables = define_kit_tables(metadata)
