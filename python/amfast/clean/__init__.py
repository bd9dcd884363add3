"""`amfast clean`: the curation pipeline (read -> stages -> kept shards + rejection ledger).

- `driver`: the job (`clean`), its output shards and summary;
- `config`: `CleanConfig`, one field per TOML key and CLI flag;
- `ingest`: input files -> Arrow ingest shards (the flat-row field mapping, read errors);
- `engines`: where the stages run (`local`, or `ray` on a Ray Data cluster);
- `ledger`: the rejection ledger, funnel and `amfast why`.
"""

from amfast.clean.config import CleanConfig
from amfast.clean.driver import CleanSummary, clean
from amfast.clean.ledger import Funnel, explain, read_ledger

__all__ = ["CleanConfig", "CleanSummary", "Funnel", "clean", "explain", "read_ledger"]
