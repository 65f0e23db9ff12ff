"""Every write, one function per user intent. Each runs in one transaction and publishes its
events only after that transaction commits."""
