"""The notify service's application layer: views, queueing and delivery (I/O around the
pure ``services.notify.domain``)."""
