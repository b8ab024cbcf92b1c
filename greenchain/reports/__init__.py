"""Reports over certificates fetched from a node: hourly matching, statements, exports.

Pure functions of their inputs (records as the client API renders them, meter data);
they do no network I/O. Layer: beside `greenchain.meter`; imports only `model`.
"""
