"""Where entries live: the store protocol, the file store and its index, audit log and run records."""
