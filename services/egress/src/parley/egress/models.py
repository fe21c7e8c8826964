"""Tables of the egress service, all in its own ``egress`` schema."""

from parley.kit.db import declarative_base
from parley.kit.eventstore import define_kit_tables

Base = declarative_base("egress")
metadata = Base.metadata
kit_tables = define_kit_tables(metadata)
