"""The live system: sources and capture, the frame ring, the transport, workers, alerts, console, CLI.

May import: edge_model (the run time), numpy, opencv, PyAV, pyzmq, pydantic, rich, pymysql.
Never imports training, bench or torch: `dfd watch` must fit a small box.
"""
