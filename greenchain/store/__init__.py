"""Storage: a bytes key-value interface with memory and LevelDB backends (DESIGN §5, STYLE §11).

`kv` holds the `KV` protocol, `MemoryKV` and `atomic_batch`; `leveldb` holds `LevelKV`, the
only module that imports plyvel, so importing this package stays cheap.
"""
