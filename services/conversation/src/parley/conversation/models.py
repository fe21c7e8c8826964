"""Tables of the conversation service, all in its own ``conversation`` schema."""

from parley.kit.db import declarative_base
from parley.kit.eventstore import define_kit_tables

Base = declarative_base("conversation")
metadata = Base.metadata
kit_tables = define_kit_tables(metadata)
