"""Developer tools: the local stack launcher and the command-line client."""
