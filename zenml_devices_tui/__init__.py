"""zenml-devices: sign in to a ZenML server and manage your authorized devices from the terminal."""

__version__ = "0.1.0"
