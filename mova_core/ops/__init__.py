"""The operations every face calls: DLQService and what it is built from."""
