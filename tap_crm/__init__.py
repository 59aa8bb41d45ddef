"""crm-singer: tap_crm, the extractor."""

# Seconds between record-count metric lines: people watch long syncs, and the SDK's default
# (60 s) leaves a minute of silence. Both providers' base streams use it.
PROGRESS_LOG_SECONDS = 5.0
