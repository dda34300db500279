"""Several hosts, one deployment: rooms hash to partitions, each partition held by one host at a
time under a lease in the queue database (PostgreSQL), and messages between the hosts over
LISTEN/NOTIFY. `Coordinator` is this host's membership; the rest is in its modules."""

from .coordinator import Coordinator, PeerHost, default_host_id
from .partitions import partition_of, rendezvous_owner
from .tables import PartitionCountMismatch

__all__ = ["Coordinator", "PartitionCountMismatch", "PeerHost", "default_host_id", "partition_of", "rendezvous_owner"]
