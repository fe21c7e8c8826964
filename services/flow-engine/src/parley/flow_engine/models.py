"""Tables of the flow-engine service, all in its own ``flow_engine`` schema."""

from parley.kit.db import declarative_base
from parley.kit.eventstore import define_kit_tables

Base = declarative_base("flow_engine")
metadata = Base.metadata
kit_tables = define_kit_tables(metadata)
