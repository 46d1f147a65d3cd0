"""Schemathesis hooks for the OpenAPI run of the test command (apps/trainer/tests/pipeline.rs).

Quick, Draw! ndjson request bodies (`POST /api/admin/import`, `application/x-ndjson`) are
text: schemathesis sends the strings it generates for them as it sends `text/plain`.
Loaded with `SCHEMATHESIS_HOOKS=schemathesis_hooks` and this directory on `PYTHONPATH`.
"""

import schemathesis

schemathesis.serializer.alias("application/x-ndjson", "text/plain")
