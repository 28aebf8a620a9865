# Read by setup.cfg (version = attr: ...): keep it a plain assignment.
__version__ = "0.1.0"
