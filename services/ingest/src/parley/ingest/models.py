"""Tables of the ingest service, all in its own ``ingest`` schema."""

from parley.kit.db import declarative_base
from parley.kit.eventstore import define_kit_tables

Base = declarative_base("ingest")
metadata = Base.metadata
kit_tables = define_kit_tables(metadata)
