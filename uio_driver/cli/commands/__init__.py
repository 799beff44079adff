"""One module per `mali-uio` subcommand (or group of subcommands); each defines ``register(sub)``."""
