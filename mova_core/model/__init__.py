"""The vocabulary: entries, envelopes, statuses, listings, errors, lifecycle rules."""
