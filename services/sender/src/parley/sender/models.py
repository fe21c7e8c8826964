"""Tables of the sender service, all in its own ``sender`` schema."""

from parley.kit.db import declarative_base
from parley.kit.eventstore import define_kit_tables

Base = declarative_base("sender")
metadata = Base.metadata
kit_tables = define_kit_tables(metadata)
