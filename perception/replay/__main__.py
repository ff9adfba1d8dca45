"""python -m perception.replay: see perception.replay.fleet."""

from perception.replay.fleet import cli

if __name__ == "__main__":
    cli()
