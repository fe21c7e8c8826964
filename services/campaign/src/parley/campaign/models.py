"""Tables of the campaign service, all in its own ``campaign`` schema."""

from parley.kit.db import declarative_base
from parley.kit.eventstore import define_kit_tables

Base = declarative_base("campaign")
metadata = Base.metadata
kit_tables = define_kit_tables(metadata)
